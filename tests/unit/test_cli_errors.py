"""The command line's answers to bad input: one message, no traceback, a non-zero exit."""

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app

runner = CliRunner()


def test_generate_rejects_a_bad_scale() -> None:
    result = runner.invoke(app, ["generate", "--scale", "lots"])
    assert result.exit_code == 2
    assert "scale 'lots' is not 'classic'" in result.stderr


def test_a_wrong_setting_stops_the_cli_with_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE", "ftp://somewhere")
    result = runner.invoke(app, ["tables"])
    assert result.exit_code == 2
    assert "LAKEHOUSE_WAREHOUSE: expected a file:// or s3:// location" in result.stderr
