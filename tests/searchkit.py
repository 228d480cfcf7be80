"""Helpers shared by the search-language and ADQL tests (test_search*.py,
test_adql*.py): an in-process handle on the scratch database, and the check
that a translation is one SELECT PostgreSQL accepts."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from xmmdb.pg import Psycopg

FUZZ_EXAMPLES = int(os.environ.get("XMMDB_FUZZ_EXAMPLES", "1000"))


def connect(dsn: str) -> Psycopg:
    """An autocommit psycopg connection wrapped like plpy (xmmdb.pg.Psycopg)."""
    return Psycopg(psycopg.connect(dsn, autocommit=True))


@pytest.fixture(scope="module")
def handle(dsn):
    """connect(dsn) for a test module (import the fixture from searchkit)."""
    h = connect(dsn)
    yield h
    h.conn.close()


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


def cancelled(exc) -> bool:
    """A query stopped by statement_timeout: slow, not wrong."""
    return isinstance(exc, psycopg.errors.QueryCanceled)


def quoted(s: str, q: str = "'") -> str:
    """s as a string in quotes q, inner quotes doubled."""
    return q + s.replace(q, q + q) + q


def mutated(base, nasty: list[str]):
    """Queries of `base` with one to four random edits: insertions and
    replacements from `nasty`, deletions, truncation."""
    @st.composite
    def edit(draw):
        q = list(draw(base))
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
            i = draw(st.integers(0, len(q)))
            if kind == "insert":
                q.insert(i, draw(st.sampled_from(nasty)))
            elif kind == "delete" and q:
                del q[min(i, len(q) - 1)]
            elif kind == "replace" and q:
                q[min(i, len(q) - 1)] = draw(st.sampled_from(nasty))
            else:
                q = q[:i]
        return "".join(q)
    return edit()


def fuzz(conn, translate, strategy, ok_prefix: str = "SELECT ", tolerate=lambda exc: False,
         run=lambda sql: True) -> dict:
    """Runs FUZZ_EXAMPLES examples of `strategy` (queries, or (query, option) pairs
    passed to translate as *args) through `translate`: each must give an
    XmmError or SQL that assert_one_select accepts (one in eight also run).
    PostgreSQL errors for which tolerate(exc) is true are counted, not failures;
    run(sql) says whether a query may be executed (not only planned).
    Returns the counts of each outcome."""
    from xmmdb.errors import XmmError

    counter = itertools.count()
    seen = {"sql": 0, "error": 0, "tolerated": 0}

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
    def check(args):
        args = args if isinstance(args, tuple) else (args,)
        try:
            sql = translate(*args)
        except XmmError as exc:
            assert exc.message and exc.sqlstate and not exc.sqlstate.startswith("XX"), exc
            seen["error"] += 1
            return
        assert sql.startswith(ok_prefix), sql
        try:
            assert_one_select(conn, sql, run=run(sql) and next(counter) % 8 == 0)
        except psycopg.Error as exc:
            if not tolerate(exc):
                raise
            seen["tolerated"] += 1
            return
        seen["sql"] += 1

    from hypothesis import given
    given(strategy)(check)()
    return seen
