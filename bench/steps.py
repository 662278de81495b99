"""Bench steps in fresh child processes, so that each step's peak memory (max RSS) is its own.

A bench module runs ``python -m <module> --child <step> ...`` through `run_step`; the child
prints its outcome with `report`, and the parent reads it back from the last line of output.
"""

import json
import resource
import subprocess
import sys
from typing import Any

STEP_TIMEOUT_S = 3600


def report(outcome: dict[str, Any]) -> None:
    """In the child: print the step's outcome, with its peak memory, for the parent.

    The peak is the larger of this process's and of its largest finished child's: a step may do
    its work in processes of its own.
    """
    who = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    own, children = (resource.getrusage(process).ru_maxrss / 1024 for process in who)
    outcome |= {"peak_rss_mib": max(own, children), "own_peak_rss_mib": own, "children_peak_rss_mib": children}
    print(json.dumps(outcome))


def run_step(module: str, step: str, *arguments: str) -> dict[str, Any]:
    """``step`` of the bench ``module``, run in a child process: the outcome it reported."""
    completed = subprocess.run(
        [sys.executable, "-m", module, "--child", step, *arguments],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"bench step {step} ({' '.join(arguments)}) failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
