"""Connections for the web shim: which DSN and role, a small pool, a statement
timeout on every connection, and which xmm_* SQL functions exist right now.

The shim has no science logic: every page is one or a few SQL calls. Features
whose SQL function is missing from the database are reported as
"not available" instead of failing, and appear as soon as the function does
(the function list is re-read every few seconds).
"""

from __future__ import annotations

import os
import queue
import re
import time
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
    """A small LIFO pool of autocommit connections, each with a statement timeout."""

    def __init__(self, dsn: str, timeout_ms: int | None = None, size: int = 8):
        self.dsn = dsn
        self.timeout_ms = int(timeout_ms or os.environ.get("XMMDB_WEB_TIMEOUT_MS", DEFAULT_TIMEOUT_MS))
        self.pool: queue.LifoQueue = queue.LifoQueue(maxsize=size)

    def _new(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, application_name="xmmdb_web",
                               options=f"-c statement_timeout={self.timeout_ms}", connect_timeout=10)

    @contextmanager
    def connect(self):
        conn = None
        while conn is None:
            try:
                conn, idle_since = self.pool.get_nowait()
            except queue.Empty:
                conn = self._new()
                break
            if time.monotonic() - idle_since > 5:  # a server restart or a dropped database kills idle connections
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    conn.close()
                    conn = None
        ok = False
        try:
            yield conn
            ok = True
        finally:
            if conn.closed or conn.broken or not ok and conn.info.transaction_status != 0:
                conn.close()
            else:
                try:
                    self.pool.put_nowait((conn, time.monotonic()))
                except queue.Full:
                    conn.close()

    def close(self) -> None:
        while True:
            try:
                self.pool.get_nowait()[0].close()
            except queue.Empty:
                return

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
