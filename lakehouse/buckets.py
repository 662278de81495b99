"""The S3 buckets the settings name: the warehouse's and the landing location's."""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from lakehouse.settings import Settings


def bucket_names(settings: Settings) -> list[str]:
    """The buckets of the settings' s3:// locations, in order; none on a local profile."""
    locations = (settings.warehouse, settings.landing)
    return list(dict.fromkeys(urlsplit(location).netloc for location in locations if location.startswith("s3://")))


# Every object written is encrypted at rest with the server's key (SSE-S3; MinIO's KMS key).
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def ensure_buckets(client: Any, names: Sequence[str]) -> list[str]:
    """Create those of ``names`` that the S3 endpoint of ``client`` (boto3) lacks, and make each
    encrypt what is written to it; the ones created. A bucket another writer created meanwhile
    counts as there."""
    from botocore.exceptions import ClientError

    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    created = []
    for name in [name for name in names if name not in existing]:
        try:
            client.create_bucket(Bucket=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
            continue
        created.append(name)
    for name in names:
        client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION)
    return created


def create_buckets(settings: Settings) -> list[str]:
    """Create the buckets `bucket_names` lists that do not exist yet; the ones created."""
    names = bucket_names(settings)
    if not names:
        return []
    from lakehouse.ingest.landing.store import s3_client

    client = s3_client(
        settings.s3_endpoint, settings.s3_admin_access_key, settings.s3_admin_secret_key, settings.s3_region
    )
    return ensure_buckets(client, names)
