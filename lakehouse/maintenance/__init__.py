"""Table maintenance that keeps every row and every load's source position: snapshot expiry,
compaction and orphan-file removal."""
