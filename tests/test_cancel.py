"""Every call can be stopped: a statement timeout or a cancel still works in a
session that has run a fit (Sherpa replaces the backend's SIGINT handler on
import; the boot keeps PostgreSQL's and every call puts them back)."""

import json
import threading
import time

import psycopg
import pytest
from conftest import SAMPLE

pytestmark = pytest.mark.serial    # each test times a cancel to a fraction of a second: alone on the machine


@pytest.fixture(scope="module")
def fitted(dsn):
    """A session that has just fitted a spectrum (not from the cache); each test puts its settings back."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        srcid = conn.execute("SELECT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                             " WHERE s.kind = 'source' ORDER BY s.total_counts DESC LIMIT 1").fetchone()[0]
        conn.execute("SELECT * FROM xmm_fit(%s, 'phabs_pl', '{\"emin\": 0.37, \"stat\": \"cstat\"}')", (srcid,))
        conn.execute("DELETE FROM xmm.fit_cache WHERE options @> '{\"emin\": 0.37}'")
        yield conn


def test_statement_timeout_after_a_fit(fitted):
    fitted.execute("SET statement_timeout = '500ms'")
    t0 = time.monotonic()
    try:
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            fitted.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - t0 < 1.5
    finally:
        fitted.execute("RESET statement_timeout")


def test_cancel_after_a_fit(fitted, dsn):
    pid = fitted.info.backend_pid

    def cancel_soon():
        time.sleep(0.5)
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SELECT pg_cancel_backend(%s)", (pid,))

    threading.Thread(target=cancel_soon).start()
    t0 = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
        fitted.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - t0 < 1.5


# ~5 s of work whose cost estimate is below a 1 s timeout (the estimate is the fast machine's)
PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]["srcid"]   # a source with photons
LONG = f"SELECT count(*) FROM xmm_periodogram({PULSAR}, 0.01, 2, '{{\"harmonics\": 3, \"oversample\": 20}}')"


def test_long_python_work_stops_at_the_statement_timeout(dsn):
    """A periodogram is long work in Python: the timeout stops it, not its end."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM xmm_resolve('M 82')")              # boot first
        conn.execute("SET statement_timeout = '1s'")
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute(LONG)
        assert time.monotonic() - t0 < 1.8
        assert conn.execute("SELECT 1").fetchone() == (1,)                       # the session goes on


def test_terminate_ends_long_python_work(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM xmm_resolve('M 82')")
        pid = conn.info.backend_pid

        def terminate_soon():
            time.sleep(1.0)
            with psycopg.connect(dsn, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))

        threading.Thread(target=terminate_soon).start()
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError):
            conn.execute(LONG)
        assert time.monotonic() - t0 < 2.5


def test_work_longer_than_the_timeout_is_refused_before_it_starts(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM xmm_resolve('M 82')")
        conn.execute("SET statement_timeout = '3s'")
        t0 = time.monotonic()
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="would take about .* statement timeout of 3 s"):
            conn.execute(f"SELECT count(*) FROM xmm_periodogram({PULSAR}, 0.01, 4, "
                         "'{\"harmonics\": 20, \"oversample\": 20}')")
        assert time.monotonic() - t0 < 2.5
