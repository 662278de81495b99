"""Trino's password and group files: who may log in, and in which group (role) each user is.

Trino reads both again every few seconds (`file.refresh-period`), so adding a user or changing
a password takes effect without a restart. Each file is replaced whole, never rewritten in
place, so Trino never reads half of one.
"""

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from lakehouse.security.files import write_replacing
from lakehouse.security.roles import Role

# Trino's PBKDF2 format is `iterations:salt:hash`, in hex, with HMAC-SHA1 (the algorithm Trino's
# file authenticator checks with). Trino caches a login once checked, so the cost is paid once
# per user and password, not per request.
PBKDF2_ITERATIONS = 100_000
SALT_BYTES = 16
HASH_BYTES = 32  # any length: Trino derives as many bytes as the stored hash has


def password_hash(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations, dklen=HASH_BYTES)
    return f"{iterations}:{salt.hex()}:{digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    iterations, salt, digest = stored.split(":")
    candidate = hashlib.pbkdf2_hmac("sha1", password.encode(), bytes.fromhex(salt), int(iterations), len(digest) // 2)
    return secrets.compare_digest(candidate.hex(), digest)


def _read_entries(path: Path) -> dict[str, str]:
    """`name:value` lines, as both files hold them."""
    if not path.exists():
        return {}
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split(":", 1) for line in lines if line and not line.startswith("#"))


def _write_entries(path: Path, entries: dict[str, str]) -> None:
    lines = "".join(f"{name}:{value}\n" for name, value in sorted(entries.items()))
    write_replacing(path, lines.encode(), 0o644)


@dataclass(frozen=True)
class TrinoLogins:
    """The password file (`password.db`) and group file (`groups.txt`) in ``directory``."""

    directory: Path

    @property
    def password_file(self) -> Path:
        return self.directory / "password.db"

    @property
    def group_file(self) -> Path:
        return self.directory / "groups.txt"

    def users(self) -> dict[str, Role]:
        """Each user with a password, and its role (the group it is in)."""
        passwords = _read_entries(self.password_file)
        roles = {
            user: Role(group)
            for group, members in _read_entries(self.group_file).items()
            for user in members.split(",")
            if user
        }
        return {user: roles[user] for user in passwords if user in roles}

    def set_user(self, user: str, role: Role, password: str) -> None:
        """Add ``user`` to ``role``, or move it there, with ``password`` (a new user, or a rotation)."""
        if not user or any(mark in user for mark in ":, \n"):
            raise ValueError(f"user name {user!r}: expected a name without ':', ',' or spaces")
        if not password:
            raise ValueError(f"user {user}: empty password")
        passwords = _read_entries(self.password_file)
        _write_entries(self.password_file, {**passwords, user: password_hash(password)})
        groups = {
            group: [member for member in members.split(",") if member and member != user]
            for group, members in _read_entries(self.group_file).items()
        }
        groups.setdefault(role.value, []).append(user)
        _write_entries(self.group_file, {group: ",".join(members) for group, members in groups.items() if members})

    def password_is(self, user: str, password: str) -> bool:
        stored = _read_entries(self.password_file).get(user)
        return stored is not None and password_matches(password, stored)
