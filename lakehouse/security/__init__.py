"""Who may do what on the stack: the roles, their logins to Trino and MinIO, the TLS certificate.

The roles are declared once (``roles``); Trino's password and group files, its certificate
(``trino_files``, ``certificates``) and MinIO's users and policies (``minio_access``) are made
from them. What each role may read and write in Trino is `trino/etc/rules.json`.
"""
