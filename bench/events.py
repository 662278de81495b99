"""Kafka into bronze: messages per second on this machine, against a per-message alternative.

The project's own Kafka broker starts in a temporary directory and `--count` sales events are
produced to a topic of their own (timed apart). Each way of loading them then runs in a fresh
child process, so its peak memory (max RSS) is its own, into a `local` lakehouse of its own:

- `ingest`: what the asset does, `TopicIngestion.run`, batch after batch of at most
  `--max-records` messages until the table has the whole topic;
- `alternative`: the same read and the same one-commit write, but each message parsed with
  `json.loads` and each chunk built with `pa.Table.from_pylist`, the usual hand-written consumer.

    python -m bench.events [--count 1000000] [--max-records 500000]
"""

import argparse
import json
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from bench.steps import report, run_step
from lakehouse.iceberg.catalog import bronze_table, catalog_for
from lakehouse.iceberg.commits import commit_load
from lakehouse.iceberg.declarations import TopicDeclaration, topic_declarations
from lakehouse.ingest.events.client import Fetched, TopicClient
from lakehouse.ingest.events.load import CHUNK_MESSAGES, MAX_WAIT_SECONDS, TopicIngestion, source_label
from lakehouse.ingest.events.offsets import Batch, encode_offsets, plan_batch
from lakehouse.ingest.events.parsing import Messages
from lakehouse.ingest.rows import declared_schema
from lakehouse.settings import Settings
from lakehouse_dev.generators.sales_events import produce_events
from lakehouse_dev.services.kafka import KafkaBroker

MODULE = "bench.events"
TOPIC = "bench-sales-events"


def _declaration() -> TopicDeclaration:
    sales_events = next(d for d in topic_declarations() if d.table == "sales_events")
    return sales_events.model_copy(update={"topic": sales_events.topic.model_copy(update={"name": TOPIC})})


def _ingest(home: Path, bootstrap_servers: str, max_records: int) -> dict[str, float]:
    settings = Settings(home=home / "ingest", kafka_bootstrap_servers=bootstrap_servers)
    ingestion = TopicIngestion(catalog_for(settings), _declaration(), bootstrap_servers)
    started = time.perf_counter()
    messages = runs = 0
    while (result := ingestion.run(max_records=max_records)).details.messages_read:
        messages += result.details.messages_read
        runs += 1
    return {"messages": messages, "seconds": time.perf_counter() - started, "runs": runs}


def _from_pylist(chunk: Messages, schema: pa.Schema) -> pa.Table:
    text_schema = pa.schema([f.with_type(pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema])
    rows = pa.Table.from_pylist([json.loads(value) for value in chunk.values], schema=text_schema)
    typed = pa.Table.from_arrays([rows[f.name].cast(f.type) for f in schema], schema=schema)
    return (
        typed.append_column("_kafka_partition", pa.array(chunk.partitions, pa.int32()))
        .append_column("_kafka_offset", pa.array(chunk.offsets, pa.int64()))
        .append_column("_ingested_at", pa.repeat(pa.scalar(datetime.now(UTC), pa.timestamp("us", "UTC")), len(chunk)))
        .append_column("_source", pa.repeat(pa.scalar(source_label(TOPIC)), len(chunk)))
    )


def _read_and_parse(client: TopicClient, batch: Batch, schema: pa.Schema) -> tuple[Fetched, list[pa.Table]]:
    """The chunks parsed as they are read, in a thread of their own, as the asset does."""
    with ThreadPoolExecutor(max_workers=1) as parser:
        parsing: list[Future[pa.Table]] = []
        fetched = client.read(
            batch,
            MAX_WAIT_SECONDS,
            CHUNK_MESSAGES,
            lambda chunk: parsing.append(parser.submit(_from_pylist, chunk, schema)),
        )
        return fetched, [future.result() for future in parsing]


def _alternative(home: Path, bootstrap_servers: str, max_records: int) -> dict[str, float]:
    declaration = _declaration()
    schema = pa.schema([f.with_nullable(True) for f in declared_schema(declaration)])
    table = bronze_table(catalog_for(Settings(home=home / "alternative")), declaration)
    started = time.perf_counter()
    messages = runs = 0
    position: dict[int, int] = {}
    with TopicClient(bootstrap_servers, TOPIC, "bench-alternative") as client:
        while True:
            marks = client.watermarks(10)
            assert marks is not None
            batch = plan_batch(TOPIC, position, marks, max_records)
            if not batch.messages:
                break
            fetched, chunks = _read_and_parse(client, batch, schema)
            if not fetched.messages:
                raise SystemExit(f"no message read within {MAX_WAIT_SECONDS:g} s from offsets {batch.start}")
            messages += commit_load(table, chunks, {"kafka-offsets": encode_offsets(fetched.reached)}, replace=False)
            position, runs = fetched.reached, runs + 1
    return {"messages": messages, "seconds": time.perf_counter() - started, "runs": runs}


STEPS = {"ingest": _ingest, "alternative": _alternative}


def _child(step: str, home: Path, bootstrap_servers: str, max_records: int) -> None:
    report(STEPS[step](home, bootstrap_servers, max_records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="sales events produced, then loaded")
    parser.add_argument("--max-records", type=int, default=500_000, help="messages per run at most")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap-servers", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.home, arguments.bootstrap_servers, arguments.max_records)
        return

    home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-events-"))
    broker = KafkaBroker(home / "kafka")
    try:
        broker.start()
        started = time.perf_counter()
        produce_events(broker.bootstrap_servers, TOPIC, None, arguments.count, seed=1)
        produced = time.perf_counter() - started
        print(f"produced {arguments.count:,} events in {produced:.1f} s ({arguments.count / produced:,.0f}/s)")
        child = ("--home", str(home), "--bootstrap-servers", broker.bootstrap_servers)
        child += ("--max-records", str(arguments.max_records))
        outcomes = {step: run_step(MODULE, step, *child) for step in STEPS}
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)

    header = f"{'step':<12} {'messages':>10} {'runs':>5} {'seconds':>8} {'messages/s':>11} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for step, outcome in outcomes.items():
        rate = outcome["messages"] / outcome["seconds"]
        print(
            f"{step:<12} {int(outcome['messages']):>10,} {int(outcome['runs']):>5} {outcome['seconds']:>8.1f} "
            f"{rate:>11,.0f} {outcome['peak_rss_mib']:>9,.0f}"
        )
    ratio = outcomes["alternative"]["seconds"] / outcomes["ingest"]["seconds"]
    print(f"ingest vs json.loads + pa.Table.from_pylist: {ratio:.2f}x the throughput")


if __name__ == "__main__":
    main()
