"""Go programs built from the Go module proxy into the services cache, once.

A program whose module cannot be `go install`ed as it is (a `replace` or `exclude` line in its
go.mod) is built through a wrapper module committed under `lakehouse_dev/go/<name>/`: a go.mod
that requires it, names it as a tool and repeats those lines. The build resolves the wrapper's
dependencies (`go mod tidy`, whose go.sum stays in the cache) and builds the tool's package.
A wrapper may also be a program of its own: its .go files are built with it, and their digest is
part of where the binary is kept, so an edit is built anew.
"""

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.process import CACHE_DIR, ServiceUnavailable, install_lock, run_checked

GO_FALLBACK = Path("/usr/local/go/bin/go")  # where the official Go tarball installs, often not on PATH
BUILD_TIMEOUT_S = 1800.0
WRAPPERS_DIR = CHECKOUT_ROOT / "lakehouse_dev" / "go"


def go_executable() -> Path:
    found = shutil.which("go")
    if found:
        return Path(found)
    if GO_FALLBACK.exists():
        return GO_FALLBACK
    raise ServiceUnavailable("no Go toolchain to build with: install Go 1.26 or newer (https://go.dev/dl/)")


def go_environment(**overrides: str) -> dict[str, str]:
    """The environment of a build: the module cache inside the services cache, a static binary."""
    go_path = CACHE_DIR / "go"
    return {
        **os.environ,
        "GOPATH": str(go_path),
        "GOMODCACHE": str(go_path / "pkg" / "mod"),
        # The module cache is read-only by default, which would stop `rm -rf` of the services cache.
        "GOFLAGS": "-modcacherw",
        # A static binary: no C toolchain needed, and it runs on any Linux.
        "CGO_ENABLED": "0",
        **overrides,
    }


def run_go(arguments: list[str], what: str, cwd: Path | None = None, **environment: str) -> None:
    command = [str(go_executable()), *arguments]
    try:
        run_checked(command, what, env=go_environment(**environment), cwd=cwd, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ServiceUnavailable(f"{what} took longer than {BUILD_TIMEOUT_S:.0f}s") from None


@dataclass(frozen=True)
class WrappedProgram:
    """The main package ``package`` of ``module``, at the version ``lakehouse_dev/go/<wrapper>/go.mod``
    requires it."""

    wrapper: str
    module: str
    package: str
    binary_name: str

    @property
    def version(self) -> str:
        go_mod = (WRAPPERS_DIR / self.wrapper / "go.mod").read_text()
        found = re.search(rf"^require {re.escape(self.module)} (\S+)$", go_mod, re.MULTILINE)
        if found is None:
            raise ValueError(f"lakehouse_dev/go/{self.wrapper}/go.mod does not require {self.module}")
        return found[1]

    @property
    def sources(self) -> list[Path]:
        """The wrapper's own Go files, if it is a program of its own."""
        return sorted((WRAPPERS_DIR / self.wrapper).glob("*.go"))

    @property
    def binary(self) -> Path:
        build = self.version
        if sources := self.sources:
            digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources)).hexdigest()
            build += f"-{digest[:12]}"
        return CACHE_DIR / self.wrapper / build / self.binary_name

    def build(self) -> Path:
        """The program, built on first use; later calls, in any process, reuse it."""
        if self.binary.exists():
            return self.binary
        version_dir = self.binary.parent
        with install_lock(version_dir):
            if self.binary.exists():  # built by whoever held the lock before us
                return self.binary
            module = version_dir / "module"
            shutil.rmtree(module, ignore_errors=True)
            module.mkdir(parents=True)
            for source in [WRAPPERS_DIR / self.wrapper / "go.mod", *self.sources]:
                shutil.copy(source, module / source.name)
            what = f"building {self.package} {self.version}"
            run_go(["mod", "tidy"], what, cwd=module)
            staging = module / self.binary_name
            run_go(["build", "-trimpath", "-o", str(staging), self.package], what, cwd=module)
            # Into place only when complete, so an interrupted build never passes for a finished one.
            staging.replace(self.binary)
        return self.binary
