"""A large landing delivery into an existing lakehouse, against building that volume from scratch.

The existing lakehouse is a Northwind of ``--existing`` order lines built through gold by the
`medallion` job. For each delivery size, one CSV file per million marketplace lines is delivered
to its landing location and the `marketplace_orders_to_gold` job takes them to gold
(``delivery``: the landing load, the ``sales_master`` merge and every model downstream). The
alternative, ``fresh_build``, is the `medallion` job building a Northwind of as many order lines
from scratch. Generation is not timed. Each step runs in its own process, so its peak memory
(dbt's process included) is its own.

    python -m bench.large_delivery --existing 1M --deliveries 1M,10M
"""

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.steps import report, run_step

MODULE = "bench.large_delivery"
DELIVERY_JOB = "marketplace_orders_to_gold"
DELIVERY_SEED = 9
ROWS_PER_FILE = 1_000_000


def _run_job(job_name: str) -> dict[str, float]:
    import dagster as dg

    from lakehouse.definitions import defs

    job = defs().resolve_job_def(job_name)
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"{job_name} failed")
    return {"seconds": seconds}


def _deliver(rows: int) -> dict[str, float]:
    from lakehouse.settings import load_settings
    from lakehouse_dev.generators.marketplace_files import deliver_sample_files

    files = max(1, rows // ROWS_PER_FILE)
    deliver_sample_files(load_settings(), files=files, rows=rows // files, file_format="csv", seed=DELIVERY_SEED)
    return {"seconds": 0.0}


def _sales_master_rows(rows: int) -> dict[str, float]:
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.commits import current_row_count
    from lakehouse.settings import load_settings

    table = catalog_for(load_settings()).load_table(("silver", "sales_master"))
    return {"rows": float(current_row_count(table))}


STEPS = {
    "build": lambda rows: _run_job("medallion"),
    "deliver": _deliver,
    "delivery": lambda rows: _run_job(DELIVERY_JOB),
    "count": _sales_master_rows,
}


@contextmanager
def _lakehouse(size: str) -> Iterator[None]:
    """A Northwind of ``size`` order lines in a new LAKEHOUSE_HOME, which the child steps use."""
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    home = Path(tempfile.mkdtemp(prefix=f"lakehouse-bench-delivery-{size}-"))
    os.environ |= {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local", "LAKEHOUSE_LANDING_SETTLE_SECONDS": "0"}
    try:
        write_northwind(f"sqlite:///{home}/northwind.db", parse_scale(size))
        yield
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _step(step: str, rows: int = 0) -> dict[str, float]:
    return run_step(MODULE, step, "--rows", str(rows))


def _measure(existing: str, delivery: str) -> tuple[dict[str, float], dict[str, float]]:
    """The fresh build of ``delivery`` order lines, and the delivery of as many into ``existing``."""
    from lakehouse_dev.generators.northwind.generator import parse_scale

    existing_rows, delivered_rows = parse_scale(existing).order_lines, parse_scale(delivery).order_lines
    with _lakehouse(delivery):
        fresh = _step("build")
    with _lakehouse(existing):
        _step("build")
        _step("deliver", delivered_rows)
        delivered = _step("delivery")
        merged = _step("count")["rows"]
    if merged != existing_rows + delivered_rows:
        raise SystemExit(f"sales_master has {merged:,.0f} rows, expected {existing_rows + delivered_rows:,}")
    return fresh, delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--existing", default="1M", help="order lines of the existing lakehouse")
    parser.add_argument("--deliveries", default="1M", help="comma-separated marketplace lines delivered: 1M, 10M")
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        report(STEPS[arguments.child](arguments.rows))
        return

    header = f"{'delivery':>9} {'fresh build s':>14} {'peak MiB':>9} {'delivery s':>11} {'peak MiB':>9} {'ratio':>6}"
    print(f"into an existing lakehouse of {arguments.existing} order lines")
    print(header)
    print("-" * len(header))
    for size in arguments.deliveries.split(","):
        fresh, delivered = _measure(arguments.existing, size)
        print(
            f"{size:>9} {fresh['seconds']:>14.1f} {fresh['peak_rss_mib']:>9,.0f} {delivered['seconds']:>11.1f} "
            f"{delivered['peak_rss_mib']:>9,.0f} {delivered['seconds'] / fresh['seconds']:>6.2f}"
        )
    print("ratio: the delivery's time to gold over the fresh build's of the same volume (the floor is 2.0)")


if __name__ == "__main__":
    main()
