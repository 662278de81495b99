"""The exporter in tests: its samples as a lookup, and its endpoint served on a free port."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lakehouse.observability.exporter import LakehouseCollector, serve
from lakehouse.observability.metrics import MetricSpec, Sample
from lakehouse_dev.services.minio import http_ok
from lakehouse_dev.services.process import free_port

Values = dict[tuple[str, tuple[str, ...]], float]
READY_TIMEOUT_S = 30.0


def values(samples: list[Sample]) -> Values:
    return {(sample.metric.name, sample.labels): sample.value for sample in samples}


def of(read: Values, metric: MetricSpec) -> dict[tuple[str, ...], float]:
    """``metric``'s samples in ``read``, by their labels."""
    return {labels: value for (name, labels), value in read.items() if name == metric.name}


@contextmanager
def serving(collector: LakehouseCollector) -> Iterator[int]:
    """``collector`` served at http://127.0.0.1:<port>/metrics while the block runs; its port."""
    port, stop = free_port(), threading.Event()
    server = threading.Thread(target=serve, args=(collector, "127.0.0.1", port, stop), daemon=True)
    server.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not http_ok(f"http://127.0.0.1:{port}/metrics"):
        assert time.monotonic() < deadline and server.is_alive(), "the exporter did not start"
        time.sleep(0.1)
    try:
        yield port
    finally:
        stop.set()
        server.join(10)
