"""Connections for the web shim: which DSN and role, a pool, a statement timeout on
every connection. The shim has no science logic: every page is one or a few SQL calls."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import psycopg

WEB_LOGIN = "xmm_web"            # the shim's own reader login (loader/roles.py)
DEFAULT_TIMEOUT_MS = 30_000


def resolve_dsn(dsn: str | None = None) -> str:
    """$XMMDB_WEB_DSN, else the xmmdb DSN as the shim's own reader login (xmm_web, with its
    password from the pgpass file `xmmdb init` writes), else the xmmdb DSN as it is (a server
    where no login roles were made, e.g. $XMMDB_DSN pointing at a database of your own)."""
    env = os.environ.get("XMMDB_WEB_DSN", "").strip()
    if env:
        return env
    from xmmdb_loader.dsn import find_dsn
    from xmmdb_loader.roles import RoleError, login_dsn

    dsn = find_dsn() if dsn is None else dsn
    try:
        return login_dsn(dsn, WEB_LOGIN)
    except RoleError:
        return dsn


class Database:
    """A pool of autocommit connections (psycopg_pool), each with a statement timeout; a
    connection is checked before it is handed out (a server restart or a dropped database
    ends idle ones), and one a request left broken or mid-transaction is not reused."""

    def __init__(self, dsn: str, timeout_ms: int | None = None, size: int = 8):
        from psycopg_pool import ConnectionPool

        self.dsn = dsn
        self.timeout_ms = int(timeout_ms or os.environ.get("XMMDB_WEB_TIMEOUT_MS", DEFAULT_TIMEOUT_MS))
        self.pool = ConnectionPool(dsn, min_size=1, max_size=size, open=True, timeout=30.0, name="xmmdb_web",
                                   check=ConnectionPool.check_connection,
                                   kwargs={"autocommit": True, "application_name": "xmmdb_web",
                                           "options": f"-c statement_timeout={self.timeout_ms}",
                                           "connect_timeout": 10})

    @contextmanager
    def connect(self):
        with self.pool.connection() as conn:
            yield conn

    def close(self) -> None:
        self.pool.close()

    def rows(self, sql, params=None) -> tuple[list[str], list[tuple]]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return [d.name for d in cur.description], cur.fetchall()

    def dicts(self, sql, params=None) -> list[dict]:
        cols, rows = self.rows(sql, params)
        return [dict(zip(cols, r)) for r in rows]

    def one(self, sql, params=None) -> dict | None:
        out = self.dicts(sql, params)
        return out[0] if out else None

    def value(self, sql, params=None):
        with self.connect() as conn:
            row = conn.execute(sql, params).fetchone()
            return row[0] if row else None


def error_info(exc: psycopg.Error) -> dict:
    """A PostgreSQL error as the user should see it: message, hint, and the
    1-based column in the query it points at, when it says one."""
    diag = exc.diag
    message = re.sub(r"^(plpy\.\w+|\w+Error): ", "", diag.message_primary or str(exc).strip())
    position = None
    found = re.search(r"\b(?:column|position|char(?:acter)?)\s+(\d+)", message)
    if found:
        position = int(found.group(1))
    elif diag.internal_position:
        position = int(diag.internal_position)
    return {"message": message, "hint": diag.message_hint, "detail": diag.message_detail,
            "position": position, "sqlstate": diag.sqlstate}
