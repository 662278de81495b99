"""JupyterLab on loopback with the project's kernel and notebooks/, and headless Chromium to look
at what it renders (Debian's `chromium`, installed by the harness when missing)."""

import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse_dev.notebooks import NOTEBOOKS_DIR
from lakehouse_dev.services.debian import debian_programs
from lakehouse_dev.services.minio import http_ok
from lakehouse_dev.services.process import ProcessServer, ServerProcess, free_port

CHROMIUM = Path("/usr/bin/chromium")
JUPYTER = Path(sys.executable).parent / "jupyter"
READY_TIMEOUT_S = 60.0
RENDER_TIMEOUT_S = 120.0
# Long enough for JupyterLab's scripts to load and render a notebook in virtual time.
RENDER_BUDGET_MS = 30_000
# As a root process in a sandbox with no network beyond loopback: no sandbox of its own, no GPU,
# and none of the background connections the closed network would refuse.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def install_chromium() -> Path:
    return debian_programs("chromium", CHROMIUM)


def rendered_dom(url: str) -> str:
    """The page at ``url`` as headless Chromium has rendered it, scripts run."""
    with tempfile.TemporaryDirectory(prefix="lakehouse-chromium-") as profile:
        completed = subprocess.run(
            [
                str(install_chromium()),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={RENDER_BUDGET_MS}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
        )
    return completed.stdout


@dataclass
class JupyterLab(ProcessServer):
    """`make notebook`'s server: JupyterLab on 127.0.0.1 over ``root_dir``, behind a token."""

    data_dir: Path
    root_dir: Path = NOTEBOOKS_DIR
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"

    def start(self) -> "JupyterLab":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(JUPYTER),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
        ]
        # Its runtime files (connection files, the server's own) under its data directory.
        environment = {"JUPYTER_RUNTIME_DIR": str(self.data_dir / "runtime")}
        log = self.data_dir / "jupyterlab.log"
        self.process = ServerProcess.spawn("JupyterLab", command, log, env=environment, cwd=self.data_dir)
        self.process.wait_ready(lambda: http_ok(self.page("api/status")), READY_TIMEOUT_S)
        return self
