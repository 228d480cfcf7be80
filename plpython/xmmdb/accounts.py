"""Passwords of the web shim's accounts (sql/84_accounts.sql): Argon2id, made and checked in
the server (argon2-cffi), with OWASP's parameters (19 MiB, 2 passes, one lane). Only the
accounts' definer functions call these; a hash never leaves the database."""

from __future__ import annotations

_HASHER = None


def _hasher():
    global _HASHER
    if _HASHER is None:
        import argon2

        _HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
    return _HASHER


def hash_password(password: str | None) -> str | None:
    return None if password is None else _hasher().hash(password)


def verify_password(password_hash: str | None, password: str | None) -> bool:
    """False for a wrong password; a missing hash (no such account) costs a hash all the same,
    so that the answer's time does not tell which names exist."""
    import argon2

    if password is None:
        return False
    if password_hash is None:
        _hasher().hash(password)
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
