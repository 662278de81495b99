"""Iceberg table maintenance: compaction, snapshot expiry and orphan files, every night."""
