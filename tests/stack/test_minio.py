"""MinIO from the harness: the buckets the lakehouse expects, objects kept across restarts, and
the Arrow S3 filesystem that pyiceberg writes through."""

import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from lakehouse.buckets import create_buckets
from lakehouse.ingest.landing.store import s3_client
from lakehouse.settings import Settings
from lakehouse_dev.services.minio import MinioServer, minio_binary_path

pytestmark = pytest.mark.stack


def test_expected_buckets_exist(minio: MinioServer):
    names = {bucket["Name"] for bucket in minio.client().list_buckets()["Buckets"]}
    assert {"warehouse", "landing"} <= names


def test_object_round_trip(minio: MinioServer):
    client = s3_client(minio.endpoint, minio.access_key, minio.secret_key)
    client.put_object(Bucket="landing", Key="round-trip/hello.txt", Body=b"hello lakehouse")
    body = client.get_object(Bucket="landing", Key="round-trip/hello.txt")["Body"].read()
    assert body == b"hello lakehouse"


def test_restart_keeps_objects_and_reuses_the_binary(minio: MinioServer, services_dir: Path):
    # The session server guarantees the binary is built before this test measures anything.
    binary = minio_binary_path()
    built_at = binary.stat().st_mtime_ns
    data_dir = services_dir / "minio-restart"

    first = MinioServer(data_dir, buckets=("kept",))
    try:
        first.start()
        first.client().put_object(Bucket="kept", Key="a/b.txt", Body=b"survives a restart")
    finally:
        first.stop()

    second = MinioServer(data_dir, buckets=("kept",))
    try:
        second.start()
        body = second.client().get_object(Bucket="kept", Key="a/b.txt")["Body"].read()
    finally:
        second.stop()

    assert body == b"survives a restart"
    assert binary.stat().st_mtime_ns == built_at


def test_arrow_s3_filesystem_writes_and_reads_parquet(minio: MinioServer):
    s3 = fs.S3FileSystem(
        endpoint_override=minio.endpoint.removeprefix("http://"),
        scheme="http",
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        region="us-east-1",
    )
    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    pq.write_table(table, "warehouse/arrow-check/part-0.parquet", filesystem=s3)

    assert pq.read_table("warehouse/arrow-check/part-0.parquet", filesystem=s3).equals(table)
    listed = s3.get_file_info(fs.FileSelector("warehouse/arrow-check"))
    assert [info.base_name for info in listed] == ["part-0.parquet"]


def test_lakehouse_init_creates_the_buckets_the_settings_name(minio: MinioServer, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        home=tmp_path,
        warehouse=f"s3://warehouse-{tag}/",
        landing=f"s3://landing-{tag}/deliveries/",
        s3_endpoint=minio.endpoint,
        s3_access_key=minio.access_key,
        s3_secret_key=minio.secret_key,
    )
    assert create_buckets(settings) == [f"warehouse-{tag}", f"landing-{tag}"]
    assert create_buckets(settings) == []
    existing = {bucket["Name"] for bucket in minio.client().list_buckets()["Buckets"]}
    assert {f"warehouse-{tag}", f"landing-{tag}"} <= existing
