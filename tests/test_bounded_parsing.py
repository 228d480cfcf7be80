"""Parsing takes time in proportion to its input: no name, position or query up
to the length limits keeps the server busy for more than 50 ms (coordinate
patterns used to try every split of a run of spaces: '1' + 250 spaces + 'x'
took 13.7 s and ignored cancels)."""

import time

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmmdb.search.language import MAX_LENGTH
from xmmdb.search.names import MAX_NAME_LENGTH

PIECES = ["1", "12", "12.5", " ", "    ", "h", "m", "s", "d", "deg", "°", ":", "+", "-", ",", "'", '"', "x", "."]
HAND_PICKED = [
    "1" + " " * 250 + "x",
    "1" + " " * (MAX_NAME_LENGTH - 2) + "x",
    "00 42 44.3" + " " * 240 + "x",
    "1 " * 120 + "x",
    "1" * (MAX_NAME_LENGTH - 1) + "x",
    "12:" * 80 + "x",
    "1" + " ," * 120 + "x",
]


@pytest.fixture(scope="module")
def warm(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT * FROM xmm_resolve('M 82')")      # the session's boot is not parsing
        conn.execute("SELECT count(*) FROM xmm_search('M82')")
        yield conn


def elapsed_ms(conn, sql, arg, tries: int = 3) -> float:
    """The best of a few runs: the tests share two cores, and a run that waited for one is not
    the parser's time (the quadratic and exponential parsers these tests guard against take
    the same time every run)."""
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        try:
            conn.execute(sql, (arg,)).fetchall()
        except psycopg.errors.DataError:
            pass                         # an error for humans is an answer too
        except psycopg.errors.SyntaxError:
            pass
        best = min(best, (time.perf_counter() - t0) * 1000)
        if best < 10:
            break
    return best


@pytest.mark.parametrize("text", HAND_PICKED)
def test_adversarial_positions_resolve_at_once(warm, text):
    assert elapsed_ms(warm, "SELECT * FROM xmm_resolve(%s)", text) < 50
    assert elapsed_ms(warm, "SELECT count(*) FROM xmm_search(%s)", f"cone('{text}', '1arcmin')") < 50


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=120).map("".join))
def test_any_position_resolves_at_once(warm, text):
    assert elapsed_ms(warm, "SELECT * FROM xmm_resolve(%s)", text[:MAX_NAME_LENGTH]) < 50


def test_a_name_longer_than_the_limit_is_refused_clearly(warm):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"at most {MAX_NAME_LENGTH} characters"):
        warm.execute("SELECT * FROM xmm_resolve(%s)", ("M" * (MAX_NAME_LENGTH + 1),))


def test_queries_up_to_the_length_limit_parse_in_linear_time(warm):
    """Odd queries of the longest length parse at once; a long real one takes about ten times as
    long as one a tenth of its length, not a hundred (the bound, 40, leaves room for a loaded
    machine and still fails a quadratic parser by a factor of 2.5)."""
    for query in (" " * (MAX_LENGTH - 4) + "M82", "(" * 50 + "M82" + ")" * 50,
                  "cone('1" + " " * (MAX_LENGTH - 40) + "x', '1arcmin')"):
        assert len(query) <= MAX_LENGTH
        assert elapsed_ms(warm, "SELECT count(*) FROM xmm_search(%s)", query) < 50, query[:40]

    long = (MAX_LENGTH - 20) // 18
    queries = {n: "sc_det_ml > 8 AND " * n + "M82" for n in (long, long // 10)}
    best = {n: float("inf") for n in queries}
    for _ in range(5):                   # interleaved, so a busy spell slows both alike
        for n, query in queries.items():
            best[n] = min(best[n], elapsed_ms(warm, "SELECT xmm_to_sql(%s)", query, tries=1))
    assert best[long] < 40 * best[long // 10], best
