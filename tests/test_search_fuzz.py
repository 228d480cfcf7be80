"""Property-based safety test of the search language: random,
grammar-shaped and mutated queries each become one SELECT that PostgreSQL
accepts, or an XmmError, never another statement nor an internal error.

XMMDB_FUZZ_EXAMPLES sets the number of queries (default 10,000; `make fuzz`
runs 100,000). Transpiling is in-process; every SELECT is planned by
PostgreSQL (EXPLAIN over the extended protocol, which refuses a second
statement) and one in eight is also run, read-only."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmmdb.errors import XmmError
from xmmdb.search import transpiler
from xmmdb.sqlsafe import literal

from searchkit import FUZZ_EXAMPLES, fuzz, handle, mutated, quoted  # noqa: F401 (fixture)

COLUMNS = ["srcid", "iauname", "sc_ra", "sc_dec", "sc_det_ml", "sc_ep_8_flux", "sc_hr1", "n_detections", "is_ulx",
           "comments", "has_spectrum", "has_lightcurve", "sc_var_flag", "sc_sum_flag", "mjd_first",
           "SC_DET_ML", "Is_Ulx", "sc_det_mll", "ra", "obs_id", "detid", "ep_8_det_ml", "footprint", "pg_class"]
NAMES = ["M31", "M 82", "m82", "NGC 0224", "NGC5408", "Abell 907", "Lockman Hole", "Holmberg II", "M 999",
         "4XMM J095552.8+694044", "J095552.8+694044", "10.68 41.27", "149.59, -11.06", "00h42m44.3s +41d16m09s",
         "00:42:44.3 +41:16:09", "400 100", "24h00m00s +91d00m00s", "Andromeda Galaxy", "'; DROP TABLE x; --"]
RADII = ["1deg", "0.5d", "10arcmin", "2'", "30arcsec", "30″", '30"', "0deg", "-1deg", "200deg", "1e-3deg", "1e400deg",
         "10 parsec", "", "1", "deg"]
NASTY = list("'\"(){}[],;:=<>!\\ \t\n%$-+.eE0123456789aAzZ_é″′°*/#&|^~`@?") + [
    " AND ", " OR ", " NOT ", " IN ", " IS NULL", " IS NOT NULL", "cone(", "--", "/*", "*/", ";", "$$", "E'",
    "true", "false", "NULL", "1e999", "-0", "9" * 30, "''", '""', "\x00", "\u2028", "sc_det_ml", "M31"]


strings = st.one_of(st.sampled_from(["M31", "ULX", "J0958", "", "it's", 'say "hi"', "\\", "%_", "é″"]), st.text(max_size=12))
numbers = st.one_of(st.integers(-10 ** 20, 10 ** 20).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e-13", "1E5", ".5", "5.", "-0.5", "+3", "1e999", "1e-400", "0x10"]))
literals = st.one_of(numbers, st.builds(quoted, strings, st.sampled_from(["'", '"'])),
                     st.sampled_from(["true", "FALSE", "null", "M31", "4XMM"]))
columns = st.sampled_from(COLUMNS)
ops = st.sampled_from(["=", "==", "!=", "<>", "<", ">", "<=", ">=", "=<", "=>"])


def sets(items):
    return st.lists(items, min_size=0, max_size=4).map(lambda xs: "{" + ", ".join(xs) + "}")


atoms = st.one_of(
    st.builds(lambda c, o, v: f"{c} {o} {v}", columns, ops, literals),
    st.builds(lambda v, o, c: f"{v} {o} {c}", literals, ops, columns),
    st.builds(lambda c, o, d: f"{c} {o} {d}", columns, ops, columns),
    st.builds(lambda c, s: f"{c} IN {s}", columns, sets(literals)),
    st.builds(lambda s, c: f"{s} IN {c}", sets(literals), columns),
    st.builds(lambda v, c: f"{v} in {c}", literals, columns),
    st.builds(lambda c, n: f"{c} IS {n}NULL", columns, st.sampled_from(["", "NOT ", "not "])),
    st.builds(lambda n, r, q: f"cone({quoted(n, q)}, {quoted(r, q)})", st.sampled_from(NAMES), st.sampled_from(RADII),
              st.sampled_from(["'", '"'])),
    st.builds(lambda n, r: f"CONE({n}, {r})", st.sampled_from(NAMES), st.sampled_from(RADII)),
    st.sampled_from(NAMES + ["true", "false", "is_ulx", "has_spectrum", "sc_ra"]),
)
NUMERIC = ["srcid", "sc_det_ml", "sc_ep_8_flux", "sc_hr1", "n_detections", "SC_DET_ML"]
TEXTUAL = ["iauname", "comments", "Comments"]
BOOLEAN = ["is_ulx", "has_spectrum", "IS_ULX", "has_lightcurve"]
GOOD_NAMES = ["M31", "M 82", "NGC 0224", "Abell 907", "10.68 41.27", "00h42m44.3s +41d16m09s", "4XMM J095552.8+694044"]
good_numbers = st.one_of(st.integers(-10 ** 12, 10 ** 12).map(str), st.floats(-1e30, 1e30).map(repr),
                         st.sampled_from(["1e-13", "0", "-0.5", "100", "2.5E3"]))
good_strings = st.builds(quoted, strings, st.sampled_from(["'", '"']))
typed = st.one_of(
    st.builds(lambda c, o, v: f"{c} {o} {v}", st.sampled_from(NUMERIC), ops, good_numbers),
    st.builds(lambda v, o, c: f"{v} {o} {c}", good_numbers, ops, st.sampled_from(NUMERIC)),
    st.builds(lambda c, o, v: f"{c} {o} {v}", st.sampled_from(TEXTUAL), ops, good_strings),
    st.builds(lambda c, v: f"{c} = {v}", st.sampled_from(BOOLEAN), st.sampled_from(["true", "false", "TRUE"])),
    st.builds(lambda c, s: f"{c} IN {s}", st.sampled_from(NUMERIC),
              st.lists(good_numbers, min_size=1, max_size=4).map(lambda xs: "{" + ", ".join(xs) + "}")),
    st.builds(lambda c, s: f"{c} IN {s}", st.sampled_from(TEXTUAL),
              st.lists(good_strings, min_size=1, max_size=4).map(lambda xs: "{" + ", ".join(xs) + "}")),
    st.builds(lambda v, c: f"{v} IN {c}", good_strings, st.sampled_from(TEXTUAL)),
    st.builds(lambda s, c: f"{s} IN {c}", st.lists(good_strings, min_size=1, max_size=3).map(
        lambda xs: "{" + ", ".join(xs) + "}"), st.sampled_from(TEXTUAL)),
    st.builds(lambda c: f"{c} IS NOT NULL", st.sampled_from(NUMERIC + TEXTUAL)),
    st.builds(lambda n, r: f"cone('{n}', '{r}')", st.sampled_from(GOOD_NAMES),
              st.sampled_from(["1deg", "10arcmin", "30arcsec", "2'", "5″"])),
    st.sampled_from(GOOD_NAMES + BOOLEAN),
)
queries = st.recursive(st.one_of(typed, typed, typed, typed, atoms), lambda inner: st.one_of(
    st.builds(lambda a, op, b: f"{a} {op} {b}", inner, st.sampled_from(["AND", "OR", "and", "Or"]), inner),
    st.builds(lambda a: f"NOT {a}", inner),
    st.builds(lambda a: f"({a})", inner)), max_leaves=4)


any_query = st.one_of(queries, queries, mutated(queries, NASTY), st.lists(st.sampled_from(NASTY), max_size=12).map("".join),
                      st.text(max_size=40))


def test_fuzz_search_language(handle):
    source, detection = transpiler(handle, "source"), transpiler(handle, "detection")
    seen = fuzz(handle.conn, lambda q, on_detections: (detection if on_detections else source).to_sql(q),
                st.tuples(any_query, st.sampled_from([False, False, False, True])), "SELECT ")
    # the generator must reach both outcomes in earnest
    assert seen["sql"] > FUZZ_EXAMPLES // 20 and seen["error"] > FUZZ_EXAMPLES // 20, seen   # ~9 % valid


@settings(max_examples=300, deadline=None, database=None)
@given(st.text())
def test_literals_round_trip_through_postgresql(handle, s):
    """A string literal means exactly the string, whatever it holds."""
    if "\x00" in s:
        with pytest.raises(XmmError):
            literal(s)
        return
    assert handle.conn.execute("SELECT " + literal(s), binary=True).fetchone()[0] == s
