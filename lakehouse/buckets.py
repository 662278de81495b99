"""The S3 buckets the settings name: the warehouse's and the landing location's."""

from urllib.parse import urlsplit

from lakehouse.settings import Settings


def bucket_names(settings: Settings) -> list[str]:
    """The buckets of the settings' s3:// locations, in order; none on a local profile."""
    locations = (settings.warehouse, settings.landing)
    return list(dict.fromkeys(urlsplit(location).netloc for location in locations if location.startswith("s3://")))


def create_buckets(settings: Settings) -> list[str]:
    """Create the buckets `bucket_names` lists that do not exist yet; the ones created."""
    names = bucket_names(settings)
    if not names:
        return []
    from lakehouse.ingest.landing.store import s3_client

    client = s3_client(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    missing = [name for name in names if name not in existing]
    for name in missing:
        client.create_bucket(Bucket=name)
    return missing
