"""`make notebook`'s JupyterLab, looked at in headless Chromium: it serves the notebooks folder
and renders a notebook."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse_dev.notebooks import notebook_files, read
from lakehouse_dev.services.jupyter import JupyterLab, install_chromium, rendered_dom
from lakehouse_dev.services.process import ServiceUnavailable
from tests.stack.conftest import started, unavailable


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[JupyterLab]:
    try:
        install_chromium()
    except ServiceUnavailable as error:
        unavailable(str(error))
    server = JupyterLab(tmp_path / "jupyterlab")
    started(server)
    try:
        yield server
    finally:
        server.stop()


def test_jupyterlab_renders_a_notebook_in_chromium(jupyterlab: JupyterLab) -> None:
    [overview, *_] = notebook_files()
    title = read(overview).cells[0].source.splitlines()[0].removeprefix("# ")

    page = rendered_dom(jupyterlab.page(f"lab/tree/{overview.name}"))

    assert "jp-Notebook" in page, page[-2000:]
    assert title in page
    assert "rcParams" in page  # a code cell's source, in its editor (a span per token)
