"""The Dagster code location. It only assembles: each domain under `defs/` owns its definitions."""

from pathlib import Path

import dagster as dg

from lakehouse.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    # A bad setting fails the load here, in one message naming each bad variable, rather than
    # inside whichever domain reads it first.
    load_settings()
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
