"""The notebooks on `local`: committed without outputs, each executed headless against a built
lakehouse, its key result equal to the CLI's."""

from pathlib import Path

import nbformat
import pytest

from lakehouse_dev.notebooks import notebook_files, strip_outputs, with_outputs
from tests.medallion import BuiltLakehouse
from tests.notebooks import assert_each_notebook_shows_the_cli_figure


@pytest.mark.parametrize("path", notebook_files(), ids=lambda path: path.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    assert with_outputs(nbformat.read(path, as_version=4)) == []


def test_stripping_removes_outputs_and_execution_counts(tmp_path: Path) -> None:
    [first, *_] = notebook_files()
    notebook = nbformat.read(first, as_version=4)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs, code.execution_count = [nbformat.v4.new_output("stream", text="1357856.68\n")], 1
    copy = tmp_path / first.name
    nbformat.write(notebook, copy)

    assert strip_outputs(copy)
    assert with_outputs(nbformat.read(copy, as_version=4)) == []
    assert not strip_outputs(copy)


def test_every_notebook_runs_on_local_and_shows_the_cli_figure(classic_lakehouse: BuiltLakehouse) -> None:
    assert_each_notebook_shows_the_cli_figure({"LAKEHOUSE_HOME": str(classic_lakehouse.settings.home)})
