"""A fix to pyiceberg 0.12, applied when the lakehouse's commits are imported.

pyiceberg shares one manifest evaluator per partition spec between the threads that plan an
overwrite's deletes (`_OverwriteFiles._deleted_entries`), and the evaluator keeps the manifest
it is evaluating on itself. Two threads at once can each judge their manifest by the other's
partition bounds: a manifest that holds a file to delete is skipped, and the commit fails with
"Missing required files to delete" (a compaction of a partitioned table under load did). Each
evaluation here runs on a copy of the evaluator, so the state is its own. Remove this once
pyiceberg keeps that state per call, as its scans' evaluators already do.
"""

import copy
from collections.abc import Callable

from pyiceberg.expressions.visitors import _ManifestEvalVisitor
from pyiceberg.manifest import ManifestFile

_FIXED = "_lakehouse_evaluates_on_a_copy"


def evaluate_manifests_on_a_copy() -> None:
    """Make every manifest evaluation safe to run from several threads at once."""
    if getattr(_ManifestEvalVisitor, _FIXED, False):
        return
    shared_eval: Callable[[_ManifestEvalVisitor, ManifestFile], bool] = _ManifestEvalVisitor.eval

    def eval_on_a_copy(self: _ManifestEvalVisitor, manifest: ManifestFile) -> bool:
        return shared_eval(copy.copy(self), manifest)

    _ManifestEvalVisitor.eval = eval_on_a_copy  # type: ignore[method-assign]
    setattr(_ManifestEvalVisitor, _FIXED, True)
