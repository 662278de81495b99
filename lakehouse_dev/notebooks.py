"""The notebooks in notebooks/: executed headless as JupyterLab's kernel runs them, their key
result read back, and kept in the repository without outputs.

Each notebook ends with a cell tagged ``key-result`` that shows one value; the tests compare it
with the same figure from `lakehouse query`.
"""

import os
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lakehouse.settings import CHECKOUT_ROOT

NOTEBOOKS_DIR = CHECKOUT_ROOT / "notebooks"
KEY_RESULT = "key-result"
KERNEL = "python3"
CELL_TIMEOUT_S = 300


def read(path: Path) -> nbformat.NotebookNode:
    notebook: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def notebook_files() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def execute(path: Path, environment: Mapping[str, str]) -> nbformat.NotebookNode:
    """``path`` run top to bottom in a fresh kernel with ``environment``; a cell that raises raises
    `nbclient.exceptions.CellExecutionError`, naming the cell and the error."""
    notebook = read(path)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    saved = dict(os.environ)
    # The kernel inherits this process's environment: the profile's LAKEHOUSE_* settings.
    os.environ.update(environment)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return notebook


def key_result(notebook: nbformat.NotebookNode) -> str:
    """The plain-text value the notebook's ``key-result`` cell shows."""
    [cell] = [cell for cell in notebook.cells if KEY_RESULT in cell.metadata.get("tags", [])]
    [shown] = [output for output in cell.outputs if output.output_type == "execute_result"]
    return str(shown.data["text/plain"])


def with_outputs(notebook: nbformat.NotebookNode) -> list[int]:
    """The indexes of the code cells that carry outputs or an execution count."""
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]


def strip_outputs(path: Path) -> bool:
    """Remove the outputs and execution counts of ``path``'s cells; whether it had any."""
    notebook = read(path)
    if not with_outputs(notebook):
        return False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, path)  # type: ignore[no-untyped-call]
    return True


def main() -> None:
    """`make lint`: strip every notebook in notebooks/, saying which had outputs."""
    for path in notebook_files():
        if strip_outputs(path):
            print(f"stripped the outputs of {path.relative_to(CHECKOUT_ROOT)}")


if __name__ == "__main__":
    main()
