"""docker-compose.yml, read by the real Compose CLI: no container engine is needed to validate it.

The CLI (`docker compose`'s own code, module `github.com/docker/compose/v5`) is built from the Go
module proxy into the services cache once (`lakehouse_dev/go/compose/`), and run standalone.
"""

import json
import subprocess
from pathlib import Path
from typing import Any

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.go_build import WrappedProgram

COMPOSE_CLI = WrappedProgram(
    wrapper="compose",
    module="github.com/docker/compose/v5",
    package="github.com/docker/compose/v5/cmd",
    binary_name="docker-compose",
)
COMPOSE_FILE = CHECKOUT_ROOT / "docker-compose.yml"
# The optional profiles; the core services have none and always start.
PROFILES = ("observability", "notebooks")


class ComposeError(Exception):
    """The Compose CLI rejected the file: its message says where and why."""


def compose(*arguments: str, compose_file: Path = COMPOSE_FILE) -> str:
    """Run the Compose CLI on ``compose_file`` with every optional profile; its output."""
    profiles = [option for profile in PROFILES for option in ("--profile", profile)]
    command = [str(COMPOSE_CLI.build()), "-f", str(compose_file), *profiles, *arguments]
    # No engine is asked for: `config` only reads the files. DOCKER_HOST left unset all the same.
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=compose_file.parent)
    if completed.returncode != 0:
        raise ComposeError(completed.stderr.strip() or completed.stdout.strip())
    return completed.stdout


def compose_config(compose_file: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The file as Compose resolves it: anchors merged, env files read, paths made absolute."""
    config: dict[str, Any] = json.loads(compose("config", "--format", "json", compose_file=compose_file))
    return config
