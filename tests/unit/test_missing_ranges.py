"""The reconcile check names the source keys bronze lacks as runs of the source's own keys."""

from lakehouse.defs.database.checks import missing_ranges


def test_missing_keys_are_grouped_into_runs_of_the_source_keys() -> None:
    source = [1, 2, 3, 4, 5, 7, 8, 10, 11, 12]
    assert missing_ranges(source, [1, 4, 5, 10]) == [(2, 3), (7, 8), (11, 12)]


def test_a_gap_in_the_source_keys_does_not_split_a_run() -> None:
    assert missing_ranges([10001, 10002, 10100, 10248], [10248]) == [(10001, 10100)]


def test_nothing_missing_and_everything_missing() -> None:
    assert missing_ranges([5, 6, 7], [5, 6, 7]) == []
    assert missing_ranges([7, 5, 6, 6], []) == [(5, 7)]
