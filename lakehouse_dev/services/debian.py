"""Programs from Debian's packages, installed by the harness when missing (as root, with apt-get).

Installs take a lock of their own and wait for apt's: two test sessions, or the background
install thread and a test, never run apt-get at once. No package installed meanwhile starts a
service of its own (policy-rc.d): the harness starts what it needs, and stops it by process id.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse_dev.services.process import CACHE_DIR, ServiceUnavailable, install_lock

POLICY_RC = Path("/usr/sbin/policy-rc.d")
# policy-rc.d's answer for "action forbidden": dpkg's maintainer scripts then start no service.
FORBID_SERVICE_STARTS = "#!/bin/sh\nexit 101\n"
APT_LOCK_WAIT_S = 600.0


def apt_get(*arguments: str) -> None:
    """apt-get, once another apt-get has let go of apt's locks: `apt-get update` fails on a held
    lock rather than waiting for it, whatever DPkg::Lock::Timeout says."""
    command = ["apt-get", *arguments]
    deadline = time.monotonic() + APT_LOCK_WAIT_S
    while True:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode == 0:
            return
        if "Could not get lock" not in completed.stderr or time.monotonic() > deadline:
            raise ServiceUnavailable(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
        time.sleep(2.0)


@contextmanager
def service_starts_forbidden() -> Iterator[None]:
    """No package installed meanwhile starts its service: on a host with an init system, Debian's
    `prometheus` would start one on port 9090, which the harness neither wants nor may stop by name.
    A policy-rc.d already in place is the host's own and stays as it is."""
    if POLICY_RC.exists():
        yield
        return
    POLICY_RC.write_text(FORBID_SERVICE_STARTS)
    POLICY_RC.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC.unlink(missing_ok=True)


def debian_programs(package: str, *programs: Path) -> Path:
    """The first of ``programs``, installing Debian's ``package`` when any is missing."""
    if all(program.exists() for program in programs):
        return programs[0]
    if os.geteuid() == 0 and shutil.which("apt-get"):
        with install_lock(CACHE_DIR / "debian"), service_starts_forbidden():
            if not all(program.exists() for program in programs):  # else installed while we waited
                apt_get("update", "-qq")
                apt_get("install", "-y", "-qq", "--no-install-recommends", package)
        if all(program.exists() for program in programs):
            return programs[0]
    raise ServiceUnavailable(
        f"{', '.join(map(str, programs))} not found; install them with "
        f"`sudo apt-get install --no-install-recommends {package}`"
    )
