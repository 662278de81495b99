"""Log lines for people (the default) or for a log pipeline: with ``LAKEHOUSE_LOG_FORMAT=json``,
one JSON object per line with the time, level, logger and message, and the run id and asset
where the line belongs to one.

The CLI, the exporter and the Dagster runs' console logger (``lakehouse/defs/logs.py``) all
format through here.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


# Set on a record with ``extra=``; Dagster's own records carry them in ``dagster_meta``.
RUN_ID = "run_id"
ASSET = "asset"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _dagster_context(record: logging.LogRecord) -> dict[str, Any]:
    """The run id and asset of a record Dagster's log manager emitted; empty for any other record."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict):
        return {}
    context: dict[str, Any] = {RUN_ID: meta.get("run_id")}
    event = meta.get("dagster_event")
    asset_key = getattr(event, "asset_key", None) if event is not None else None
    if asset_key is not None:
        context[ASSET] = asset_key.to_user_string()
    elif meta.get("step_key"):
        context["step"] = meta["step_key"]
    return context


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Dagster's records keep the bare message here; getMessage() has its run/step prefix.
            "message": getattr(record, "dagster_meta", {}).get("orig_message") or record.getMessage(),
        }
        entry |= _dagster_context(record)
        for key in (RUN_ID, ASSET):
            if (value := getattr(record, key, None)) is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps({key: value for key, value in entry.items() if value is not None}, default=str)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Every logger of the process writes to stderr in ``log_format``: the lakehouse's own from
    ``level`` up, the libraries' (SQLAlchemy's migrations, Kafka's client) warnings only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("lakehouse").setLevel(level)
