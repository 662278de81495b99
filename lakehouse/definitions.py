"""The Dagster code location. It only assembles: each domain under `defs/` owns its definitions."""

import warnings
from pathlib import Path

import dagster as dg

from lakehouse.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    # A bad setting fails the load here, in one message naming each bad variable, rather than
    # inside whichever domain reads it first.
    load_settings()
    # The defs folder alone. `dg.load_from_defs_folder` also describes every component type the
    # installed libraries offer, for dg's scaffolding tools: over a second of every run's start.
    # It silences the preview warnings of the loader underneath; so does this.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        tree = dg.ComponentTree.for_project(path_within_project=Path(__file__).parent)
        return tree.build_defs_at_path(Path())
