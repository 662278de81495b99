"""The runs' console logger: Dagster's own, or one JSON object per line with
``LAKEHOUSE_LOG_FORMAT=json`` (lakehouse/logs.py).

Dagster uses a job's loggers only where the run config names them, so with JSON logs every job
names `console` in its default config (`console_logging`): the schedules' and sensors' runs, and
`lakehouse materialize`'s. Runs of the implicit asset job (the UI's Materialize button,
automation conditions) keep Dagster's default format unless their launch config names it.
"""

import logging
import sys
from typing import Any

import dagster as dg

from lakehouse.logs import JsonFormatter, LogFormat
from lakehouse.settings import Settings, load_settings

CONSOLE = "console"


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="One JSON object per line on stderr: time, level, logger, message, run id and asset or step.",
)
def json_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    # Not registered with logging.getLogger: each run gets its own, with one handler.
    logger = logging.Logger("lakehouse.run", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


def console_logging(settings: Settings) -> dict[str, Any] | None:
    """A job's default run config: the console logger named where logs are JSON, else nothing."""
    return {"loggers": {CONSOLE: {}}} if settings.log_format is LogFormat.JSON else None


@dg.definitions
def loggers() -> dg.Definitions:
    json_logs = load_settings().log_format is LogFormat.JSON
    return dg.Definitions(loggers={CONSOLE: json_console_logger} if json_logs else {})
