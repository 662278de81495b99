"""What the benchmarks share: timing a step, and printing rounds of steps against an alternative."""

import statistics
import time
from collections.abc import Callable


def timed(action: Callable[[], object]) -> float:
    """Wall seconds of ``action()``."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def print_rounds(seconds: dict[str, list[float]], alternative: str, milliseconds: bool = False) -> None:
    """Each step's min, median and max, and its ratio to ``alternative``, taken within each round
    (the machine's drift touches both alike) and its median printed."""
    scale, width = (1000.0, 8) if milliseconds else (1.0, 7)
    print(f"{'':<32} {'min':>{width}} {'median':>{width}} {'max':>{width}}   vs {alternative} (median of rounds)")
    for name, values in seconds.items():
        ratio = statistics.median(value / other for value, other in zip(values, seconds[alternative], strict=True))
        figures = (min(values), statistics.median(values), max(values))
        shown = " ".join(f"{scale * figure:>{width}.{1 if milliseconds else 3}f}" for figure in figures)
        print(f"{name:<32} {shown}   {ratio:.2f}x")
