"""Kafka into bronze on the real broker: exactly once across a killed run, poison quarantined, the sensor bounded.

Each test has a topic of its own and a lakehouse of its own (the `local` profile under a temporary
LAKEHOUSE_HOME), so the session's one broker serves them all without interference.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pyarrow as pa
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer
from pyiceberg.table import Table

from lakehouse.defs.bronze import LOADED
from lakehouse.defs.events.assets import QUARANTINE_CHECK, build_event_asset
from lakehouse.defs.events.resources import KafkaResource
from lakehouse.defs.events.sensors import build_event_sensor
from lakehouse.iceberg.catalog import bronze_table, catalog_for, quarantine_table
from lakehouse.iceberg.commits import summary_key
from lakehouse.iceberg.declarations import TopicDeclaration
from lakehouse.ingest.events.client import KafkaUnavailable, TopicClient, consumer_group, create_topic
from lakehouse.ingest.events.load import KAFKA_OFF, QUARANTINE_SCHEMA, TopicDetails, TopicIngestion
from lakehouse.ingest.events.offsets import encode_offsets, plan_batch
from lakehouse.ingest.events.parsing import Messages
from lakehouse.ingest.results import LoadResult
from lakehouse.settings import Settings
from lakehouse_dev.generators.sales_events import EventSimulator, produce_events
from lakehouse_dev.services.kafka import KafkaBroker
from lakehouse_dev.services.process import free_port
from tests.declarations import SALES_EVENTS
from tests.resources import resources_for

pytestmark = pytest.mark.stack

# A run in a child process, to be killed: the settings come from the environment.
CHILD = """
import sys
from lakehouse.iceberg.catalog import bronze_table, catalog_for
from lakehouse.iceberg.declarations import TopicDeclaration
from lakehouse.ingest.events.load import TopicIngestion
from lakehouse.settings import load_settings

settings = load_settings()
declaration = TopicDeclaration.model_validate_json(sys.argv[1])
ingestion = TopicIngestion(catalog_for(settings), declaration, settings.kafka_bootstrap_servers, chunk_messages=250)
ingestion.run()
"""
# The same run, killing itself (SIGKILL, a real death) right after the quarantine's commit, before the table's.
CHILD_DYING_BETWEEN_COMMITS = (
    """
import os, signal
import lakehouse.ingest.events.load as events

commit_load = events.commit_load

def commit_then_die(table, chunks, position, **options):
    quarantine = options.get("before_commit")
    if quarantine is not None:
        options["before_commit"] = lambda: (quarantine(), os.kill(os.getpid(), signal.SIGKILL))
    return commit_load(table, chunks, position, **options)

events.commit_load = commit_then_die
"""
    + CHILD
)


@pytest.fixture
def declaration() -> TopicDeclaration:
    topic = f"sales-events-{uuid.uuid4().hex[:8]}"
    return SALES_EVENTS.model_copy(update={"topic": SALES_EVENTS.topic.model_copy(update={"name": topic})})


@pytest.fixture
def kafka_settings(settings: Settings, kafka: KafkaBroker) -> Settings:
    return settings.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap_servers})


def ingest(settings: Settings, declaration: TopicDeclaration, **options: object) -> LoadResult[TopicDetails]:
    ingestion = TopicIngestion(catalog_for(settings), declaration, settings.kafka_bootstrap_servers)
    return ingestion.run(**options)  # type: ignore[arg-type]


def produce(kafka: KafkaBroker, declaration: TopicDeclaration, count: int, seed: int = 1, poison: int = 0) -> int:
    return produce_events(kafka.bootstrap_servers, declaration.topic.name, None, count, seed, poison)


def send(kafka: KafkaBroker, declaration: TopicDeclaration, values: list[bytes | None]) -> None:
    """``values`` to partition 0, in order, as they are."""
    create_topic(kafka.bootstrap_servers, declaration.topic.name, declaration.topic.partitions)
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "enable.idempotence": True})
    for value in values:
        producer.produce(declaration.topic.name, key=b"k", value=value, partition=0)
    assert producer.flush(30) == 0


def end_offsets(kafka: KafkaBroker, declaration: TopicDeclaration) -> dict[int, int]:
    with TopicClient(kafka.bootstrap_servers, declaration.topic.name, f"probe-{uuid.uuid4()}") as client:
        marks = client.watermarks(10)
    assert marks is not None
    return marks.high


def bronze(settings: Settings, declaration: TopicDeclaration, suffix: str = "") -> Table:
    return catalog_for(settings).load_table(("bronze", declaration.table + suffix))


def recorded_position(table: Table) -> dict[str, str]:
    table.refresh()
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    properties = snapshot.summary.additional_properties
    return {name: properties[summary_key(name)] for name in ("kafka-topic", "kafka-offsets")}


def event_ids(seed: int, count: int) -> list[str]:
    return [str(event["event_id"]) for _, event in zip(range(count), EventSimulator(seed).events(), strict=False)]


def assert_exactly_once(
    rows: pa.Table, produced_ids: list[str], ends: dict[int, int], quarantined: pa.Table | None = None
) -> None:
    """Each message up to ``ends`` is in the table or the quarantine, once; each event id once."""
    ids = rows["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) and set(ids) <= set(produced_ids)
    positions = [positions_of(rows)] + ([] if quarantined is None else [positions_of(quarantined)])
    for partition, end in ends.items():
        offsets = [offset for found in positions for p, offset in found if p == partition]
        assert sorted(offsets) == list(range(end)), f"partition {partition}"


def positions_of(rows: pa.Table) -> list[tuple[int, int]]:
    return list(zip(rows["_kafka_partition"].to_pylist(), rows["_kafka_offset"].to_pylist(), strict=True))


def test_events_land_with_their_partition_and_offset_and_the_commit_records_the_offsets(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 3000)
    result = ingest(kafka_settings, declaration)
    ends = end_offsets(kafka, declaration)
    assert (result.details.messages_read, result.rows_written, result.rows_quarantined) == (3000, 3000, 0)
    assert result.details.offsets_before == {} and result.details.offsets_after == ends
    assert len(ends) == 3 and all(ends.values())
    table = bronze(kafka_settings, declaration)
    rows = table.scan().to_arrow()
    assert_exactly_once(rows, event_ids(1, 3000), ends)
    assert set(rows["_source"].to_pylist()) == {f"kafka:{declaration.topic.name}"}
    assert rows.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert recorded_position(table) == {
        "kafka-topic": declaration.topic.name,
        "kafka-offsets": json.dumps({str(p): o for p, o in sorted(ends.items())}),
    }


def test_event_times_keep_milliseconds_and_zones(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    event = {"event_id": "e", "order_id": 1, "product_id": 2, "quantity": 3, "unit_price": 2.5}
    times = ["2026-11-22T10:00:00.123Z", "2026-11-22T12:00:00+02:00"]
    send(kafka, declaration, [json.dumps(event | {"event_time": t, "event_id": t}).encode() for t in times])
    ingest(kafka_settings, declaration)
    loaded = bronze(kafka_settings, declaration).scan().to_arrow().sort_by("_kafka_offset")["event_time"]
    assert [t.isoformat() for t in loaded.to_pylist()] == [
        "2026-11-22T10:00:00.123000+00:00",
        "2026-11-22T10:00:00+00:00",
    ]


def test_a_run_with_no_new_messages_writes_nothing_and_the_next_loads_only_what_is_new(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 1000, seed=1)
    first = ingest(kafka_settings, declaration)
    again = ingest(kafka_settings, declaration)
    assert (again.rows_written, again.skipped_reason) == (0, "no new messages")
    assert again.snapshot_id == first.snapshot_id
    assert again.details.offsets_before == again.details.offsets_after == first.details.offsets_after
    produce(kafka, declaration, 500, seed=2)
    third = ingest(kafka_settings, declaration)
    assert third.details.offsets_before == first.details.offsets_after
    assert third.rows_written == 500
    rows = bronze(kafka_settings, declaration).scan().to_arrow()
    assert_exactly_once(rows, event_ids(1, 1000) + event_ids(2, 500), end_offsets(kafka, declaration))


def test_poison_messages_go_to_the_quarantine_with_partition_offset_and_error(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    good = [json.dumps(event).encode() for _, event in zip(range(4), EventSimulator(5).events(), strict=False)]
    poison: dict[int, tuple[bytes | None, str]] = {
        1: (b"{not json", "not JSON"),
        3: (b"[1, 2]", "not a JSON object but an array"),
        4: (good[0].replace(b'"quantity": ', b'"quantity": "many", "x": '), "quantity: 'many' does not fit int32"),
        5: (json.dumps({"event_time": "2026-11-22T10:00:00Z"}).encode(), "event_id: required value is missing"),
        6: (None, "no value (a tombstone)"),
        8: (good[1].replace(b"Z", b""), "event_time: "),  # a time without a zone
    }
    values = [good[0], poison[1][0], good[1], poison[3][0], poison[4][0], poison[5][0], poison[6][0], good[2]]
    values += [poison[8][0], good[3]]
    send(kafka, declaration, values)
    result = ingest(kafka_settings, declaration)
    assert (result.rows_written, result.rows_quarantined) == (4, 6)
    loaded = bronze(kafka_settings, declaration).scan().to_arrow()
    assert sorted(loaded["_kafka_offset"].to_pylist()) == [0, 2, 7, 9]
    quarantined = bronze(kafka_settings, declaration, "_quarantine").scan().to_arrow().sort_by("_kafka_offset")
    assert quarantined["_kafka_partition"].to_pylist() == [0] * 6
    assert quarantined["_kafka_offset"].to_pylist() == sorted(poison)
    for row, (offset, (value, error)) in zip(quarantined.to_pylist(), sorted(poison.items()), strict=True):
        assert error in row["error"], (offset, row["error"])
        assert row["value"] == (None if value is None else value.decode())
        assert row["key"] == "k"
    quarantine_position = json.loads(
        recorded_position(bronze(kafka_settings, declaration, "_quarantine"))["kafka-offsets"]
    )
    assert quarantine_position == {"0": 10, "1": 0, "2": 0}


def test_the_consumer_group_offsets_show_the_load(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 600)
    result = ingest(kafka_settings, declaration)
    group = consumer_group(declaration)
    admin = kafka.admin()  # kept until the result is in: a collected client abandons its requests
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    # The group is the table's: other tests' topics are in it too.
    offsets = {tp.partition: tp.offset for tp in committed.topic_partitions if tp.topic == declaration.topic.name}
    assert offsets == result.details.offsets_after


def run_child(script: str, settings: Settings, declaration: TopicDeclaration) -> subprocess.Popen[bytes]:
    environment = os.environ | settings.environment()
    return subprocess.Popen(
        [sys.executable, "-c", script, declaration.model_dump_json()], env=environment, stderr=subprocess.PIPE
    )


def test_a_run_killed_before_its_commit_loses_nothing_and_duplicates_nothing(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 20_000, poison=20)
    data = kafka_settings.home / "warehouse" / "bronze" / declaration.table / "data"
    child = run_child(CHILD, kafka_settings, declaration)
    deadline = time.monotonic() + 120
    while not any(data.rglob("*.parquet")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL, child.stderr.read().decode() if child.stderr else ""
    table = bronze(kafka_settings, declaration)
    assert any(data.rglob("*.parquet")), "the child was killed before it wrote any data file"
    assert table.current_snapshot() is None, "the child committed before it was killed"

    result = ingest(kafka_settings, declaration)
    ends = end_offsets(kafka, declaration)
    assert (result.rows_written, result.rows_quarantined, result.details.offsets_after) == (20_000, 20, ends)
    rows = bronze(kafka_settings, declaration).scan().to_arrow()
    quarantined = bronze(kafka_settings, declaration, "_quarantine").scan().to_arrow()
    assert (rows.num_rows, quarantined.num_rows) == (20_000, 20)
    assert_exactly_once(rows, event_ids(1, 20_020), ends, quarantined)


def test_a_run_killed_between_the_quarantine_commit_and_its_own_quarantines_nothing_twice(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 2000, poison=10)
    child = run_child(CHILD_DYING_BETWEEN_COMMITS, kafka_settings, declaration)
    assert child.wait(120) == -signal.SIGKILL, child.stderr.read().decode() if child.stderr else ""
    quarantine = bronze(kafka_settings, declaration, "_quarantine")
    assert quarantine.scan().to_arrow().num_rows == 10
    assert bronze(kafka_settings, declaration).current_snapshot() is None

    result = ingest(kafka_settings, declaration)
    assert (result.rows_written, result.rows_quarantined) == (2000, 10)
    quarantined = quarantine.refresh().scan().to_arrow()
    assert quarantined.num_rows == 10
    assert len(set(positions_of(quarantined))) == 10
    assert bronze(kafka_settings, declaration).scan().to_arrow().num_rows == 2000


def test_two_runs_at_once_load_each_message_once(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 5000, poison=5)
    catalog = catalog_for(kafka_settings)  # the catalog and tables exist: creating them is not what races here
    bronze_table(catalog, declaration)
    quarantine_table(catalog, declaration, QUARANTINE_SCHEMA)
    with ThreadPoolExecutor(max_workers=2) as runs:
        # The loser of the race for the commit reads the position again and loads what is left: nothing.
        results = list(runs.map(lambda _: ingest(kafka_settings, declaration), range(2)))
    assert sorted(r.rows_written for r in results) == [0, 5000]
    rows = bronze(kafka_settings, declaration).scan().to_arrow()
    quarantined = bronze(kafka_settings, declaration, "_quarantine").scan().to_arrow()
    assert (rows.num_rows, quarantined.num_rows) == (5000, 5)
    assert_exactly_once(rows, event_ids(1, 5005), end_offsets(kafka, declaration), quarantined)


def test_a_read_cut_short_by_max_wait_records_exactly_what_it_loaded(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 2000, seed=1)
    ends = end_offsets(kafka, declaration)
    # Ends past the topic's: the read waits for messages that do not come, until max_wait.
    started = time.monotonic()
    first = ingest(kafka_settings, declaration, end_offsets={p: o + 100 for p, o in ends.items()}, max_wait_seconds=2)
    assert 2 <= time.monotonic() - started < 10
    assert (first.details.timed_out, first.rows_written, first.details.offsets_after) == (True, 2000, ends)
    assert recorded_position(bronze(kafka_settings, declaration))["kafka-offsets"] == encode_offsets(ends)
    produce(kafka, declaration, 500, seed=2)
    rest = ingest(kafka_settings, declaration)
    assert (rest.details.timed_out, rest.details.offsets_before, rest.rows_written) == (False, ends, 500)
    rows = bronze(kafka_settings, declaration).scan().to_arrow()
    assert_exactly_once(rows, event_ids(1, 2000) + event_ids(2, 500), end_offsets(kafka, declaration))


def test_requested_end_offsets_bound_the_batch(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 900)
    result = ingest(kafka_settings, declaration, end_offsets={0: 10, 1: 0}, max_records=1000)
    assert result.details.offsets_after == {0: 10, 1: 0, 2: 0}
    assert result.rows_written == 10
    capped = ingest(kafka_settings, declaration, max_records=90)
    assert capped.rows_written == 90
    assert sum(capped.details.offsets_after.values()) == 100


def test_one_client_reads_batch_after_batch(kafka: KafkaBroker, declaration: TopicDeclaration) -> None:
    produce(kafka, declaration, 300)
    with TopicClient(kafka.bootstrap_servers, declaration.topic.name, f"reader-{uuid.uuid4()}") as client:
        marks = client.watermarks(10)
        assert marks is not None
        chunks: list[Messages] = []
        first = client.read(plan_batch(declaration.topic.name, {}, marks, 150), 10, 100, chunks.append)
        second = client.read(plan_batch(declaration.topic.name, first.reached, marks, 150), 10, 100, chunks.append)
    assert [len(chunk) for chunk in chunks] == [100, 50, 100, 50]
    assert (first.messages, second.messages, second.reached) == (150, 150, marks.high)
    assert not first.timed_out and not second.timed_out


def test_a_topic_that_does_not_exist_yet_is_nothing_to_load(
    kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    result = ingest(kafka_settings, declaration)
    assert result.skipped_reason == f"topic {declaration.topic.name!r} does not exist yet"
    assert result.rows_written == 0 and result.snapshot_id is None


def tick(
    sensor: dg.SensorDefinition, settings: Settings, instance: dg.DagsterInstance | None = None
) -> dg.RunRequest | dg.SkipReason:
    # A context manager: some resources (Spark's) set up and tear down around their use.
    instance = instance or dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources=resources_for(settings)) as context:
        return sensor(context)


def test_the_sensor_requests_a_bounded_run_that_loads_exactly_that(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 3000)
    sensor = build_event_sensor(declaration, interval_seconds=10, max_records=1000)
    request = tick(sensor, kafka_settings)
    assert isinstance(request, dg.RunRequest)
    config = request.run_config["ops"]["bronze__sales_events"]["config"]
    requested = {int(p): o for p, o in config["end_offsets"].items()}
    ends = end_offsets(kafka, declaration)
    assert sum(requested.values()) == 1000
    assert all(0 < requested[p] <= ends[p] for p in ends)

    asset = build_event_asset(declaration)
    run = dg.materialize([asset], resources=resources_for(kafka_settings), run_config=request.run_config)
    assert run.success
    metadata = run.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["rows_written"].value == 1000
    assert json.loads(str(metadata["offsets_after"].value)) == config["end_offsets"]
    assert metadata["dagster/row_count"].value == 1000
    assert str(metadata["snapshot_id"].value).isdigit()
    assert {(c.check_name, c.passed) for c in run.get_asset_check_evaluations()} == {
        (LOADED, True),
        (QUARANTINE_CHECK, True),
    }


def test_the_sensor_skips_when_up_to_date_or_while_its_job_runs(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    sensor = build_event_sensor(declaration, interval_seconds=10)
    missing = tick(sensor, kafka_settings)
    assert isinstance(missing, dg.SkipReason) and "does not exist yet" in str(missing.skip_message)
    produce(kafka, declaration, 100)
    ingest(kafka_settings, declaration)
    up_to_date = tick(sensor, kafka_settings)
    assert isinstance(up_to_date, dg.SkipReason) and "up to date" in str(up_to_date.skip_message)

    produce(kafka, declaration, 100, seed=2)
    instance = dg.DagsterInstance.ephemeral()
    assert isinstance(tick(sensor, kafka_settings, instance), dg.RunRequest)
    job_name = f"{declaration.table}_to_gold"
    instance.add_run(dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED))
    busy = tick(sensor, kafka_settings, instance)
    assert isinstance(busy, dg.SkipReason) and job_name in str(busy.skip_message)


@pytest.mark.usefixtures("kafka")  # with the session's broker: Kafka's client library is what is timed
def test_with_the_broker_down_a_tick_fails_within_5_seconds_naming_it(
    settings: Settings, declaration: TopicDeclaration
) -> None:
    nowhere = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    sensor = build_event_sensor(declaration, interval_seconds=10)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable, match=re.escape(f"Kafka at {nowhere.kafka_bootstrap_servers} did not")):
        tick(sensor, nowhere)
    assert time.monotonic() - started < 5


def test_with_kafka_off_the_sensor_skips_and_the_asset_succeeds_writing_nothing(
    settings: Settings, declaration: TopicDeclaration
) -> None:
    assert settings.kafka_bootstrap_servers == ""
    skipped = tick(build_event_sensor(declaration, interval_seconds=10), settings)
    assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == KAFKA_OFF
    resources = resources_for(settings) | {"kafka": KafkaResource(bootstrap_servers="")}
    run = dg.materialize([build_event_asset(declaration)], resources=resources)
    assert run.success
    metadata = run.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["unchanged"].value == KAFKA_OFF
    assert metadata["rows_written"].value == 0
    assert bronze(settings, declaration).scan().to_arrow().num_rows == 0


def test_a_run_with_poison_warns_through_its_check(
    kafka: KafkaBroker, kafka_settings: Settings, declaration: TopicDeclaration
) -> None:
    produce(kafka, declaration, 200, poison=5)
    run = dg.materialize([build_event_asset(declaration)], resources=resources_for(kafka_settings))
    assert run.success
    [check] = [c for c in run.get_asset_check_evaluations() if c.check_name == QUARANTINE_CHECK]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert check.metadata["quarantined"].value == 5
