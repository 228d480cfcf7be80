"""Helpers shared by the search-language and ADQL tests (test_search*.py,
test_adql*.py): an in-process handle on the scratch database, and the check
that a translation is one SELECT PostgreSQL accepts."""

from __future__ import annotations

import os

import psycopg

from xmmdb.pg import Psycopg

FUZZ_EXAMPLES = int(os.environ.get("XMMDB_FUZZ_EXAMPLES", "10000"))


def connect(dsn: str) -> Psycopg:
    """An autocommit psycopg connection wrapped like plpy (xmmdb.pg.Psycopg)."""
    return Psycopg(psycopg.connect(dsn, autocommit=True))


def assert_one_select(conn: psycopg.Connection, sql: str, run: bool = False) -> None:
    """`sql` is one SELECT PostgreSQL plans (EXPLAIN over the extended protocol,
    which refuses a second statement) and, with run, executes read-only."""
    assert sql.startswith("SELECT "), sql
    conn.execute("EXPLAIN " + sql, prepare=False, binary=True)
    if run:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SET LOCAL statement_timeout = '5s'")
            conn.execute("SELECT count(*) FROM (" + sql + ") AS q", binary=True)
