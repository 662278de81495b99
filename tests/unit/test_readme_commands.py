"""The README's commands leave the checkout's build-time dbt manifest alone."""

import re
import subprocess
from pathlib import Path

import pytest

from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR
from lakehouse.settings import CHECKOUT_ROOT

# A command a reader runs, in a code block or a code span: the README spells dbt `.venv/bin/dbt`.
DBT_COMMAND = re.compile(r"\.venv/bin/dbt [^`\n]+")
BUILD_TARGET = DBT_PROJECT_DIR / "target"


def readme_dbt_commands() -> list[str]:
    return DBT_COMMAND.findall((CHECKOUT_ROOT / "README.md").read_text())


def target_path(command: str, environment: dict[str, str]) -> Path:
    """The target path dbt gets from ``command`` as bash expands it in the checkout; dbt resolves a
    relative one against the project directory, and without one writes to the project's `target/`."""
    words = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {command}"],
        cwd=CHECKOUT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    if "--target-path" not in words:
        return BUILD_TARGET
    return (DBT_PROJECT_DIR / words[words.index("--target-path") + 1]).resolve()


def test_the_readme_has_dbt_commands() -> None:
    assert readme_dbt_commands(), "the README lost its dbt commands: this file's pattern no longer finds them"


@pytest.mark.parametrize("command", readme_dbt_commands())
@pytest.mark.parametrize("home", [None, "/tmp/elsewhere"], ids=["default home", "LAKEHOUSE_HOME set"])
def test_readme_dbt_commands_write_under_lakehouse_home_not_into_the_build_manifest(
    command: str, home: str | None
) -> None:
    environment = {"PATH": "/usr/bin:/bin"} | ({"LAKEHOUSE_HOME": home} if home else {})
    written = target_path(command, environment)

    assert not written.is_relative_to(BUILD_TARGET), f"{command} writes into {BUILD_TARGET}"
    assert written.is_relative_to((Path(home) if home else CHECKOUT_ROOT / ".lakehouse").resolve())
