"""Writing a file the servers read while it changes (Trino's logins, Prometheus's password)."""

import os
import tempfile
from pathlib import Path


def write_replacing(path: Path, content: bytes, mode: int) -> None:
    """Write ``content`` to ``path`` with ``mode`` by replacing the file whole, so a reader sees
    the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    staging = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        staging.chmod(mode)
        staging.replace(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
