"""Landing files from the real MinIO `landing` bucket: the sensor lists the bucket, the asset loads
what it requested, quarantine objects land beside the files, and a redelivered file loads nothing."""

import uuid
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.defs.landing.assets import NO_QUARANTINED_INPUT, TAKEN_FILES_UNCHANGED, build_landing_asset
from lakehouse.defs.landing.jobs import landing_run_config
from lakehouse.defs.landing.sensors import build_landing_sensor
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.ingest.landing.store import S3LandingStore, landing_store
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from lakehouse_dev.services.minio import MinioServer
from tests.declarations import MARKETPLACE as DECLARATION
from tests.resources import resources_for

pytestmark = pytest.mark.stack


@pytest.fixture
def prefix() -> str:
    """A folder of the session's `landing` bucket of this test's own: other tests deliver there too."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_settings(minio: MinioServer, tmp_path: Path, prefix: str) -> Settings:
    return Settings(
        home=tmp_path / "lakehouse",
        landing=f"s3://landing/{prefix}/",
        s3_endpoint=minio.endpoint,
        s3_access_key=minio.access_key,
        s3_secret_key=minio.secret_key,
        landing_settle_seconds=0,
    )


def object_text(minio: MinioServer, key: str) -> str:
    return minio.client().get_object(Bucket="landing", Key=key)["Body"].read().decode()


def evaluate_sensor(settings: Settings) -> dg.RunRequest | dg.SkipReason:
    sensor = build_landing_sensor(DECLARATION, settings.sensor_interval_seconds)
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources_for(settings)) as context:
        return sensor(context)


def materialize(settings: Settings, run_config: dg.RunConfig | dict[str, object]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_landing_asset(DECLARATION)],
        resources=resources_for(settings),
        run_config=run_config,
    )


def test_the_store_lists_reads_and_writes_the_bucket(s3_settings: Settings, minio: MinioServer, prefix: str) -> None:
    store = landing_store(s3_settings)
    assert isinstance(store, S3LandingStore)
    store.write("marketplace_orders/a.csv", b"marketplace\n")
    store.write("marketplace_orders/.hidden.csv", b"partial")
    store.write("marketplace_orders_v2/b.csv", b"other dataset")

    [listed] = store.list("marketplace_orders/")

    assert listed.path == "marketplace_orders/a.csv" and listed.size == len(b"marketplace\n")
    assert listed.etag is not None and store.stat(listed.path).unchanged_since(listed)
    assert store.read(listed.path) == b"marketplace\n"
    assert object_text(minio, f"{prefix}/marketplace_orders/a.csv") == "marketplace\n"
    for look in (store.read, store.stat):
        with pytest.raises(FileNotFoundError, match=f"s3://landing/{prefix}/marketplace_orders/missing.csv"):
            look("marketplace_orders/missing.csv")


def test_files_in_the_bucket_land_once_through_the_sensor_and_the_asset(
    s3_settings: Settings, minio: MinioServer, prefix: str
) -> None:
    delivered = [
        *deliver_sample_files(s3_settings, files=1, rows=20, file_format="csv", seed=21),
        *deliver_sample_files(s3_settings, files=1, rows=20, file_format="jsonl", seed=22),
        *deliver_sample_files(s3_settings, files=2, rows=20, file_format="parquet", seed=23),
    ]
    minio.client().put_object(Bucket="landing", Key=f"{prefix}/marketplace_orders/zz.parquet", Body=b"not parquet")

    request = evaluate_sensor(s3_settings)
    assert isinstance(request, dg.RunRequest)
    [op_config] = request.run_config["ops"].values()
    assert sorted(op_config["config"]["files"]) == sorted([*delivered, "marketplace_orders/zz.parquet"])

    result = materialize(s3_settings, request.run_config)

    [event] = result.get_asset_materialization_events()
    values = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
    assert values["rows_written"] == values["dagster/row_count"] == 80
    assert values["files_ingested"] == 4 and values["files_quarantined"] == 1
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == NO_QUARANTINED_INPUT)
    assert not check.passed
    quarantine = f"{prefix}/quarantine/marketplace_orders/zz.parquet"
    assert object_text(minio, quarantine) == "not parquet"
    assert "cannot be read as parquet" in object_text(minio, f"{quarantine}.reason.txt")
    rows = catalog_for(s3_settings).load_table(("bronze", DECLARATION.table)).scan().to_arrow()
    assert sorted(set(rows["_source_file"].to_pylist())) == sorted(delivered)

    deliver_sample_files(s3_settings, files=1, rows=20, file_format="csv", seed=21)  # the same file again
    skipped = evaluate_sensor(s3_settings)
    assert isinstance(skipped, dg.SkipReason) and "no new settled files" in str(skipped.skip_message)
    again = materialize(s3_settings, landing_run_config(DECLARATION, delivered[:1]))
    [event] = again.get_asset_materialization_events()
    assert event.step_materialization_data.materialization.metadata["rows_written"].value == 0
    # The same bytes delivered again: a new modification time, but the ETag tells it is unchanged.
    unchanged = next(c for c in again.get_asset_check_evaluations() if c.check_name == TAKEN_FILES_UNCHANGED)
    assert unchanged.passed
