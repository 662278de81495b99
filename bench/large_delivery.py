"""A large landing delivery into an existing lakehouse, against building that volume from scratch.

For each size: a Northwind of that many order lines is generated (not timed) and built through
gold with the `medallion` job (``fresh_build``: the alternative, timed). Then one CSV file of as
many marketplace lines is delivered to that lakehouse's landing location and the
`marketplace_orders_to_gold` job takes it to gold (``delivery``: the landing load, the
``sales_master`` merge and every model downstream). Each step runs in its own process, so its
peak memory is its own.

    python -m bench.large_delivery --sizes 1M,10M
"""

import argparse
import os
import shutil
import tempfile
import time
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


def _sales_master_rows() -> dict[str, float]:
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.commits import current_row_count
    from lakehouse.settings import load_settings

    table = catalog_for(load_settings()).load_table(("silver", "sales_master"))
    return {"rows": float(current_row_count(table))}


STEPS = {
    "fresh_build": lambda rows: _run_job("medallion"),
    "deliver": _deliver,
    "delivery": lambda rows: _run_job(DELIVERY_JOB),
    "count": lambda rows: _sales_master_rows(),
}


def _measure(size: str) -> dict[str, dict[str, float]]:
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    rows = parse_scale(size).order_lines
    home = Path(tempfile.mkdtemp(prefix=f"lakehouse-bench-delivery-{size}-"))
    os.environ |= {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local", "LAKEHOUSE_LANDING_SETTLE_SECONDS": "0"}
    try:
        write_northwind(f"sqlite:///{home}/northwind.db", parse_scale(size))
        outcomes = {step: run_step(MODULE, step, "--rows", str(rows)) for step in STEPS}
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if outcomes["count"]["rows"] != 2 * rows:
        raise SystemExit(f"sales_master has {outcomes['count']['rows']:,.0f} rows, expected {2 * rows:,}")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1M", help="comma-separated order lines: 1M, 10M, ...")
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        report(STEPS[arguments.child](arguments.rows))
        return

    header = f"{'size':>6} {'fresh build s':>14} {'peak MiB':>9} {'delivery s':>11} {'peak MiB':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for size in arguments.sizes.split(","):
        outcomes = _measure(size)
        build, delivery = outcomes["fresh_build"], outcomes["delivery"]
        print(
            f"{size:>6} {build['seconds']:>14.1f} {build['peak_rss_mib']:>9,.0f} {delivery['seconds']:>11.1f} "
            f"{delivery['peak_rss_mib']:>9,.0f} {delivery['seconds'] / build['seconds']:>6.2f}"
        )
    print("ratio: the delivery's time over the fresh build's, both to gold (the floor is 2.0)")


if __name__ == "__main__":
    main()
