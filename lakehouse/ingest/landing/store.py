"""Where partners deliver files: a local directory or an S3 bucket, addressed by paths relative to it."""

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lakehouse.settings import Settings

REGION = "us-east-1"


class LandingError(Exception):
    """A landing run was asked for something it cannot do."""


@dataclass(frozen=True)
class LandingFile:
    path: str
    """Relative to the landing location, with ``/`` separators: the file's identity."""
    size: int
    modified: datetime
    etag: str | None = None
    """The object's ETag on S3; a local listing has none (the load hashes what it reads)."""

    def unchanged_since(self, earlier: "LandingFile") -> bool:
        """Whether this look at the file shows the content ``earlier`` showed.

        The ETag decides where both looks have one: S3 gives modification times to the
        millisecond in a listing but to the second in a HEAD.
        """
        if self.etag is not None and earlier.etag is not None:
            return self.etag == earlier.etag
        return (self.size, self.modified) == (earlier.size, earlier.modified)


def relative_path(path: str) -> PurePosixPath:
    """``path`` as a path inside the landing location; LandingError if it would leave it."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise LandingError(f"landing path {path!r} must be relative to the landing location, without '..'")
    return relative


# Names writers give a file until it is complete, then rename it (browsers, rsync, sftp, Spark, Hadoop).
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".filepart", ".inprogress", ".copying")


def deliverable(path: str) -> bool:
    """Whether ``path`` names a delivered file rather than one still being written or a marker.

    Hidden names (``.x``, ``_x``, also as directories) are in-progress writes or markers such as
    ``_SUCCESS``; temporary suffixes are files a writer renames once complete.
    """
    relative = PurePosixPath(path)
    hidden = any(part.startswith((".", "_")) for part in relative.parts)
    return not hidden and not relative.name.lower().endswith(TEMPORARY_SUFFIXES)


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = REGION) -> Any:
    """A boto3 S3 client for the endpoint: path-style, which MinIO needs, since bucket names are not DNS
    names on loopback."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


class LandingStore(ABC):
    """Where partners deliver files: a directory or an S3 bucket, addressed by relative path."""

    location: str

    def uri(self, path: str) -> str:
        return f"{self.location.rstrip('/')}/{path}"

    @abstractmethod
    def list(self, prefix: str) -> list[LandingFile]:
        """The deliverable files whose path starts with ``prefix``."""

    @abstractmethod
    def stat(self, path: str) -> LandingFile:
        """The file's size and modification time now; FileNotFoundError if there is none."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The file's whole content; FileNotFoundError if there is none, OSError if it cannot be read now."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace the file at once: a listing never shows it half written."""

    @abstractmethod
    def copy(self, source: str, target: str) -> None: ...


class LocalLandingStore(LandingStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = f"file://{root}"

    def _full(self, path: str) -> Path:
        return self.root.joinpath(*relative_path(path).parts)

    def list(self, prefix: str) -> list[LandingFile]:
        base = self._full(prefix)
        if not base.is_dir():
            return []
        found = []
        for candidate in base.rglob("*"):
            relative = candidate.relative_to(self.root).as_posix()
            if deliverable(relative) and candidate.is_file():
                found.append(self._described(relative, candidate))
        return found

    @staticmethod
    def _described(relative: str, full: Path) -> LandingFile:
        stat = full.stat()
        return LandingFile(relative, stat.st_size, datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC))

    def stat(self, path: str) -> LandingFile:
        full = self._full(path)
        if not full.is_file():
            raise FileNotFoundError(f"no landing file {self.uri(path)}")
        return self._described(path, full)

    def read(self, path: str) -> bytes:
        full = self._full(path)
        if not full.is_file():
            raise FileNotFoundError(f"no landing file {self.uri(path)}")
        return full.read_bytes()

    def write(self, path: str, data: bytes) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        staging = full.with_name(f".{full.name}.{uuid.uuid4().hex}")
        staging.write_bytes(data)
        staging.replace(full)

    def copy(self, source: str, target: str) -> None:
        self.write(target, self._full(source).read_bytes())


class S3LandingStore(LandingStore):
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"

    def _key(self, path: str) -> str:
        return self.prefix + relative_path(path).as_posix()

    def list(self, prefix: str) -> list[LandingFile]:
        found = []
        # The trailing slash keeps `orders/` from listing `orders_v2/` too.
        key_prefix = self._key(prefix) + ("/" if prefix.endswith("/") else "")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key_prefix)
        for page in pages:
            for entry in page.get("Contents", []):
                relative = entry["Key"].removeprefix(self.prefix)
                if deliverable(relative) and not relative.endswith("/"):
                    modified = entry["LastModified"].astimezone(UTC)
                    found.append(LandingFile(relative, int(entry["Size"]), modified, entry["ETag"]))
        return found

    def _missing(self, error: ClientError, path: str) -> Exception:
        if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            return FileNotFoundError(f"no landing file {self.uri(path)}")
        return OSError(f"cannot read {self.uri(path)}: {error}")

    def stat(self, path: str) -> LandingFile:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as error:
            raise self._missing(error, path) from None
        return LandingFile(path, int(head["ContentLength"]), head["LastModified"].astimezone(UTC), head["ETag"])

    def read(self, path: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except ClientError as error:
            raise self._missing(error, path) from None
        except BotoCoreError as error:  # the connection, not the object: worth another try later
            raise OSError(f"cannot read {self.uri(path)}: {error}") from error
        return body

    def write(self, path: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)

    def copy(self, source: str, target: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=self._key(target), CopySource={"Bucket": self.bucket, "Key": self._key(source)}
        )


def open_landing_store(
    location: str, endpoint: str = "", access_key: str = "", secret_key: str = "", region: str = REGION
) -> LandingStore:
    """The store at ``location``: ``file:///directory`` or ``s3://bucket/prefix`` (credentials for S3)."""
    if location.startswith("file://"):
        return LocalLandingStore(Path(location.removeprefix("file://")))
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        return S3LandingStore(s3_client(endpoint, access_key, secret_key, region), bucket, prefix)
    raise LandingError(f"landing location {location!r} is neither file:// nor s3://")


def landing_store(settings: Settings) -> LandingStore:
    return open_landing_store(
        settings.landing, settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
    )
