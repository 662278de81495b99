"""`make dev` records its process id, and `make dev-stop` stops it and everything it started;
`make viewer` serves the same UI read-only."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import CHECKOUT_ROOT

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def children() -> dict[int, list[int]]:
    listing = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    found: dict[int, list[int]] = {}
    for line in listing.splitlines():
        pid, ppid = (int(word) for word in line.split())
        found.setdefault(ppid, []).append(pid)
    return found


def process_tree(root: int) -> set[int]:
    """``root`` and every process below it."""
    below, tree, pending = children(), set(), [root]
    while pending:
        pid = pending.pop()
        tree.add(pid)
        pending.extend(below.get(pid, []))
    return tree


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def make(*args: str, home: Path, port: int) -> list[str]:
    # `-o install`: the virtualenv this test runs in is the installed one; `make dev` must not
    # reinstall it from whichever checkout the test runs in.
    return ["make", "--no-print-directory", "-o", "install", *args, f"BIN={BIN}", f"LAKEHOUSE_HOME={home}",
            f"DEV_PORT={port}", f"VIEWER_PORT={port}"]  # fmt: skip


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def permissions(port: int) -> dict[str, bool]:
    """What the UI at ``port`` lets its user do, as its GraphQL API says."""
    query = json.dumps({"query": "{ permissions { permission value } }"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return {entry["permission"]: entry["value"] for entry in json.load(response)["data"]["permissions"]}


def wait_until_it_answers(started: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not answers(port):
        assert started.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"the webserver did not answer within {STARTUP_SECONDS} s"
        time.sleep(1)


def started_make(target: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    home, port = tmp_path / "lakehouse", free_port()
    with (tmp_path / f"make-{target}.log").open("wb") as log:
        started = subprocess.Popen(
            make(target, home=home, port=port), cwd=CHECKOUT_ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield started, home, port
        finally:
            if started.poll() is None:  # the test failed before stopping it: its own process group goes
                os.killpg(started.pid, signal.SIGKILL)
                started.wait()


@pytest.fixture
def make_dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    yield from started_make("dev", tmp_path)


@pytest.fixture
def make_viewer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    yield from started_make("viewer", tmp_path)


def test_make_viewer_serves_the_ui_with_every_action_refused(
    make_viewer: tuple[subprocess.Popen[bytes], Path, int], tmp_path: Path
) -> None:
    started, _, port = make_viewer
    wait_until_it_answers(started, port, tmp_path / "make-viewer.log")
    granted = permissions(port)
    assert {"launch_pipeline_execution", "start_schedule", "wipe_assets"} <= set(granted)
    assert not any(granted.values()), [name for name, value in granted.items() if value]


def test_make_dev_stop_ends_dagster_dev_and_its_processes(
    make_dev: tuple[subprocess.Popen[bytes], Path, int], tmp_path: Path
) -> None:
    started, home, port = make_dev
    wait_until_it_answers(started, port, tmp_path / "make-dev.log")
    assert permissions(port)["launch_pipeline_execution"], "the developer's UI launches runs"
    pid = int((home / "dagster-dev.pid").read_text())
    tree = process_tree(pid)
    assert len(tree) >= 3, "dagster dev, its webserver and its daemon"

    stopped = subprocess.run(
        make("dev-stop", home=home, port=port), cwd=CHECKOUT_ROOT, capture_output=True, text=True, timeout=150
    )

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopped dagster dev (process {pid})" in stopped.stdout
    assert started.wait(timeout=30) is not None
    assert not (home / "dagster-dev.pid").exists()
    deadline = time.monotonic() + 30
    while [p for p in tree if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [p for p in tree if alive(p)] == []
