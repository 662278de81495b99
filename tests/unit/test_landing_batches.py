"""How many new landing files one run of the sensor's job takes."""

from datetime import UTC, datetime

from lakehouse.defs.landing.sensors import next_batch
from lakehouse.ingest.landing.store import LandingFile


def test_a_run_is_bounded_by_files_and_bytes() -> None:
    delivered = datetime(2024, 6, 1, tzinfo=UTC)
    pending = [LandingFile(f"marketplace_orders/{n}.csv", size, delivered) for n, size in enumerate([40, 30, 50, 10])]
    assert [f.path for f in next_batch(pending, max_files=2, max_bytes=1_000)] == [p.path for p in pending[:2]]
    assert [f.size for f in next_batch(pending, max_files=10, max_bytes=75)] == [40, 30]
    # A file larger than the budget still goes, alone, so it never waits forever.
    assert [f.size for f in next_batch(pending[2:], max_files=10, max_bytes=5)] == [50]
