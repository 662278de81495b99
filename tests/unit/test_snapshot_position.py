"""The position a run of snapshots records together, as a checkpoint before expiry records it."""

import json

from pyiceberg.table.snapshots import Operation, Snapshot, Summary

from lakehouse.maintenance.snapshots import position


def snapshot(number: int, **properties: str) -> Snapshot:
    summary = Summary(Operation.APPEND, **{f"lakehouse.{key}": value for key, value in properties.items()})
    return Snapshot(snapshot_id=number, timestamp_ms=number, manifest_list=f"m{number}", summary=summary)


def test_landing_files_add_up_and_the_latest_value_of_anything_else_stands() -> None:
    first = snapshot(
        1,
        **{"landing-files": '["a.csv"]', "landing-file-versions": '{"a.csv": {"size": 1}}', "cursor": "10"},
    )
    second = snapshot(
        2,
        **{"landing-files": '["b.csv", "a.csv"]', "landing-file-versions": '{"a.csv": {"size": 2}}', "cursor": "20"},
    )
    checkpoint = snapshot(3, checkpoint="true", cursor="20")
    gathered = position([first, second, checkpoint])
    assert json.loads(gathered["lakehouse.landing-files"]) == ["a.csv", "b.csv"]
    # The version a path was first taken with is the one kept, as the loads read it.
    assert json.loads(gathered["lakehouse.landing-file-versions"]) == {"a.csv": {"size": 1}}
    assert gathered["lakehouse.cursor"] == "20"
    assert "lakehouse.checkpoint" not in gathered


def test_snapshots_without_a_position_record_none() -> None:
    assert position([Snapshot(snapshot_id=1, timestamp_ms=1, manifest_list="m1")]) == {}
