"""The search language on the sample sky: every construct of the
language (docs/search.md), the name resolver, the errors, and the Q3C plan."""

import psycopg
import pytest

from xmmdb.errors import XmmError
from xmmdb.search import Resolver, parse_coordinates, parse_radius, to_sql
from xmmdb.search import names as names_module

from searchkit import assert_one_select, connect, handle  # noqa: F401 (fixture)

M31 = (10.684792, 41.269056)   # OpenNGC, NGC 224
M82 = (148.969708, 69.679389)  # OpenNGC, NGC 3034


def srcids(db, q: str, fn: str = "xmm_search", key: str = "srcid") -> set:
    return {r[0] for r in db.execute(f"SELECT {key} FROM {fn}(%s)", (q,)).fetchall()}


def hand(db, where: str, params=(), table: str = "source", key: str = "srcid") -> set:
    return {r[0] for r in db.execute(f"SELECT {key} FROM xmm.{table} WHERE {where}", params).fetchall()}


def cone_ids(db, ra, dec, r_deg, table="source", key="srcid"):
    cols = "sc_ra, sc_dec" if table == "source" else "ra, dec"
    return hand(db, f"q3c_radial_query({cols}, %s, %s, %s)", (ra, dec, r_deg), table, key)


# ---------------------------------------------------------------- resolver

@pytest.mark.parametrize("name", ["M31", "M 31", "m31", "Messier 31", "NGC224", "NGC 224", "NGC 0224", "ngc0224",
                                  "Andromeda Galaxy", "UGC 454"])
def test_resolve_normalises_names(db, name):
    rows = db.execute("SELECT name, ra, dec, origin FROM xmm_resolve(%s)", (name,)).fetchall()
    assert len(rows) == 1
    assert rows[0][0] == "NGC 224 (M31, Andromeda Galaxy)" and rows[0][3] == "OpenNGC"
    assert rows[0][1:3] == pytest.approx(M31)


def test_resolve_catalogue_names_targets_and_coordinates(db):
    iau = db.execute("SELECT iauname, sc_ra, sc_dec FROM source WHERE comments = 'ULX in M82' LIMIT 1").fetchone()
    for text in (iau[0], iau[0].replace("4XMM ", ""), iau[0].lower()):
        row = db.execute("SELECT * FROM xmm_resolve(%s)", (text,)).fetchone()
        assert row == (iau[0], iau[1], iau[2], "catalogue"), text
    name, ra, dec, origin = db.execute("SELECT * FROM xmm_resolve('abell  907')").fetchone()
    assert (name, origin) == ("Abell 907", "observation target (3 observations)")
    assert (ra, dec) == pytest.approx((149.5917, -11.0636), abs=1e-3)
    for text, want in (("10.68 41.27", (10.68, 41.27)), ("10.68, -41.27", (10.68, -41.27)),
                       ("00h42m44.3s +41d16m09s", (10.684583, 41.269167)), ("00:42:44.3 +41:16:09", (10.684583, 41.269167)),
                       ("00 42 44.3 +41 16 09", (10.684583, 41.269167)), ("09h58m18.2s -11°03'30\"", (149.575833, -11.058333))):
        row = db.execute("SELECT ra, dec, origin FROM xmm_resolve(%s)", (text,)).fetchone()
        assert row[:2] == pytest.approx(want, abs=1e-5) and row[2] == "coordinates", text
    assert db.execute("SELECT count(*) FROM xmm_resolve('M 999')").fetchone()[0] == 0


def test_search_centre_is_the_first_cone_or_the_bare_position(db):
    m31 = db.execute("SELECT * FROM xmm_resolve('M31')").fetchone()
    m82 = db.execute("SELECT * FROM xmm_resolve('M82')").fetchone()
    for q, want in (("M31", m31), ("'M31'", m31), ("cone('M31', '20arcmin') AND sc_det_ml > 10", m31),
                    ("sc_det_ml > 10 AND cone('M82', '1deg')", m82),
                    ("cone('M82', '1deg') OR cone('M31', '1deg')", m82),
                    ("cone('10.68 41.27', '5arcmin')", ("10.68 41.27", 10.68, 41.27, "coordinates")),
                    ("is_ulx = true", None)):
        assert db.execute("SELECT * FROM xmm_search_centre(%s)", (q,)).fetchone() == want, q
    with pytest.raises(psycopg.errors.SyntaxError):
        db.execute("SELECT * FROM xmm_search_centre('sc_det_ml >')")


def test_resolver_is_offline_unless_enabled(db, monkeypatch):
    """With xmm.sesame unset (the default) CDS Sesame is never called; the cache is read."""
    handle = connect(db.info.dsn)
    monkeypatch.setattr(names_module, "sesame", lambda name, timeout=3.0: pytest.fail("network used"))
    assert Resolver(handle).resolve("Nowhere Nebula") is None
    handle.query("INSERT INTO xmm.name_cache (key, name, ra, dec, origin) "
                 "VALUES (xmm.name_key('Nowhere Nebula'), 'Nowhere Nebula', 12.5, -3.25, 'by hand')")
    try:
        found = Resolver(handle).resolve("nowhere  nebula")
        assert (found.ra, found.dec, found.origin) == (12.5, -3.25, "by hand (cached)")
        # enabled, the online answer is cached under the name's key
        monkeypatch.setattr(names_module, "sesame", lambda name, timeout=3.0: names_module.Position(name, 1.0, 2.0, "CDS Sesame"))
        assert Resolver(handle, online=True).resolve("Somewhere Else").origin == "CDS Sesame"
        assert Resolver(handle).resolve("SOMEWHERE ELSE").origin == "CDS Sesame (cached)"
    finally:
        handle.query("DELETE FROM xmm.name_cache WHERE origin IN ('by hand', 'CDS Sesame')")
        handle.conn.close()


def test_coordinates_and_radius_parsing():
    assert parse_coordinates("M31") is None
    assert parse_radius("1deg") == parse_radius("1 d") == parse_radius("60arcmin") == parse_radius("60'") \
        == pytest.approx(parse_radius("3600arcsec")) == pytest.approx(parse_radius("3600″")) == 1.0
    with pytest.raises(XmmError, match="not a radius"):
        parse_radius("10 parsec")
    with pytest.raises(XmmError, match="not on the sky"):
        parse_coordinates("400 95")


# ---------------------------------------------------------------- the language

def test_bare_names_and_coordinates_are_10_arcmin_cones(db):
    m82 = cone_ids(db, *M82, 10 / 60)
    assert len(m82) > 20
    assert srcids(db, "M82") == srcids(db, "NGC 3034") == srcids(db, "'Cigar Galaxy'") == m82
    assert srcids(db, "148.969708 69.679389") == m82
    assert srcids(db, "Abell 907") == cone_ids(db, 149.5917, -11.0636, 10 / 60) != set()
    assert srcids(db, "Lockman Hole") == cone_ids(db, 161.25, 58.0, 10 / 60) != set()


def test_cones_with_names_positions_and_units(db):
    assert srcids(db, "cone('M31', '1deg') AND sc_det_ml < 100") == \
        hand(db, "q3c_radial_query(sc_ra, sc_dec, %s, %s, 1) AND sc_det_ml < 100", M31)
    assert srcids(db, "cone('10.68 41.27', '30arcsec')") == cone_ids(db, 10.68, 41.27, 30 / 3600)
    assert srcids(db, "cone('00h42m44.3s +41d16m09s', '2arcmin')") == cone_ids(db, 10.684583, 41.269167, 2 / 60) != set()
    six = cone_ids(db, *M31, 0.1)
    for radius in ("0.1deg", "0.1d", "6arcmin", "6'", "360arcsec", "360″", '360"'):
        quote = '"' if "'" in radius else "'"
        assert srcids(db, f"cone({quote}M31{quote}, {quote}{radius}{quote})") == six, radius
    assert srcids(db, "cone(M31, 6arcmin)") == six  # unquoted arguments


def test_comparisons_sets_and_booleans(db):
    assert srcids(db, "is_ulx = true AND n_detections > 2") == hand(db, "is_ulx AND n_detections > 2") != set()
    assert srcids(db, "is_ulx") == srcids(db, "is_ulx == TRUE") == srcids(db, "NOT is_ulx = false") == hand(db, "is_ulx")
    some = sorted(hand(db, "true"))[:2]
    assert srcids(db, f"srcid IN {{{some[0]}, {some[1]}}}") == set(some)
    names = [r[0] for r in db.execute("SELECT iauname FROM source ORDER BY srcid LIMIT 2")]
    assert srcids(db, f'iauname IN {{"{names[0]}", \'{names[1]}\'}}') == set(some)
    assert srcids(db, "sc_ep_8_flux > 1e-13") == srcids(db, "1E-13 < sc_ep_8_flux") == hand(db, "sc_ep_8_flux > 1e-13")
    for op, flipped in (("<", ">"), ("<=", ">="), ("=", "="), ("!=", "<>")):
        assert srcids(db, f"sc_det_ml {op} 50") == srcids(db, f"50 {flipped} sc_det_ml") \
            == hand(db, f"sc_det_ml {op} 50")
    assert srcids(db, "comments IS NULL") == hand(db, "comments IS NULL")
    assert srcids(db, "comments is not null and SC_DET_ML > 1000") == hand(db, "comments IS NOT NULL AND sc_det_ml > 1000")
    assert srcids(db, "obs_id = 0112570101", "xmm_search_detections", "detid") == \
        hand(db, "obs_id = '0112570101'", table="detection", key="detid") != set()


def test_everything_at_once(db):
    q = ("n_detections >= 1 AND M31 AND cone(M32, '1deg') AND sc_hr1 > -0.5 AND NGC 0224 AND \"10.68 41.27\" "
         "AND cone('10.68 41.27') AND cone(M31 ,'1deg') AND sc_ep_8_flux > 1e-15 AND NOT \"J0958\" IN iauname "
         "AND (comments IS NULL OR {M31} IN comments) AND srcid IN {1, 2.0, -3} = false")
    with pytest.raises(psycopg.Error, match="unexpected '='"):
        db.execute("SELECT xmm_to_sql(%s)", (q,))
    db.rollback()
    q = q.replace(" AND srcid IN {1, 2.0, -3} = false", "")
    assert srcids(db, q) == hand(
        db, "q3c_radial_query(sc_ra, sc_dec, 10.684792, 41.269056, 1/6.) AND q3c_radial_query(sc_ra, sc_dec, 10.68, 41.27, 1/6.)"
            " AND n_detections >= 1 AND sc_hr1 > -0.5 AND sc_ep_8_flux > 1e-15 AND iauname NOT LIKE '%%J0958%%'"
            " AND (comments IS NULL OR comments ILIKE '%%m31%%')") != set()


def test_precedence_and_parentheses(db):
    a, b, c = "is_ulx", "n_detections > 3", "sc_det_ml < 20"
    assert srcids(db, f"{a} OR {b} AND {c}") == hand(db, f"{a} OR ({b} AND {c})")
    assert srcids(db, f"({a} OR {b}) AND {c}") == hand(db, f"({a} OR {b}) AND {c}")
    assert srcids(db, f"NOT {a} AND {c}") == hand(db, f"(NOT {a}) AND {c}")
    assert srcids(db, f"NOT ({a} OR {c})") == hand(db, f"NOT ({a} OR {c})")


def test_substrings_and_word_sets(db):
    assert srcids(db, '"J0958" IN iauname') == hand(db, "iauname LIKE '%%J0958%%'") != set()
    assert srcids(db, "'j0958' in IAUNAME") == srcids(db, '"J0958" IN iauname')
    ulx_m82 = hand(db, "comments = 'ULX in M82'")
    assert len(ulx_m82) == 2
    assert srcids(db, '{"M82", "ULX"} IN comments') == srcids(db, "{m82, ulx} IN comments") == ulx_m82
    assert srcids(db, '"ULX in M82" IN comments') == ulx_m82


def test_derived_columns(db):
    # has_spectrum: a spectrum is stored here, so that xmm_fit can fit it
    with_spectrum = hand(db, "srcid IN (SELECT d.srcid FROM spectrum sp JOIN detection d USING (detid) "
                             "WHERE sp.kind = 'source')")
    assert srcids(db, "has_spectrum") == srcids(db, "has_spectrum = true") == with_spectrum
    assert srcids(db, "NOT has_spectrum") == hand(db, "true") - with_spectrum
    # the catalogue's flag keeps its own name; on the sample sky it says far more than is loaded
    pipeline = hand(db, "EXISTS (SELECT 1 FROM detection d WHERE d.srcid = source.srcid AND d.spectra)")
    assert srcids(db, "pipeline_spectrum") == pipeline and len(pipeline) > 2 * len(with_spectrum) > 0
    fittable = db.execute("SELECT count(*) FROM xmm_search('has_spectrum') s, LATERAL xmm.best_spectrum(s.srcid)"
                          ).fetchone()[0]
    assert fittable == len(with_spectrum)
    det = srcids(db, "is_ulx AND comments = 'ULX in M82'", "xmm_search_detections", "detid")
    assert det == hand(db, "srcid IN (SELECT srcid FROM source WHERE comments = 'ULX in M82')", table="detection",
                       key="detid") != set()
    # cones over detections use the detection position
    assert srcids(db, "M82", "xmm_search_detections", "detid") == cone_ids(db, *M82, 10 / 60, "detection", "detid")


def test_literals_are_quoted_never_spliced(db, handle):
    nasty = "x'); DROP TABLE xmm.source; --\\"
    sql = to_sql(handle, f'iauname = "{nasty}" OR "{nasty}" IN comments')
    assert "E'x''); DROP TABLE xmm.source; --\\\\'" in sql
    assert srcids(db, f'iauname = "{nasty}"') == set()
    assert db.execute("SELECT count(*) FROM source").fetchone()[0] > 1000
    assert srcids(db, "comments = 'it''s'") == set() and "'it''s'" in to_sql(handle, "comments = 'it''s'")


def test_to_sql_uses_the_q3c_index(db, handle):
    """A cone's rows come from xmm.sources_in_cone (detections_in_cone), whose statement scans
    the Q3C index (auto_explain shows the plan of the statement inside the function)."""
    sql = db.execute("SELECT xmm_to_sql('cone(''M31'', ''10arcmin'') AND sc_det_ml > 10')").fetchone()[0]
    assert sql == ("SELECT source.* FROM xmm.sources_in_cone(10.684792, 41.269056, 0.16666666666666666) AS source"
                   " WHERE sc_det_ml > 10")
    dsql = to_sql(handle, "M82 AND ep_8_det_ml > 10", "detection")
    assert dsql.startswith("SELECT detection.* FROM xmm.detections_in_cone(148.969708, 69.679389, ")
    plans = []
    db.add_notice_handler(lambda d: plans.append(d.message_primary))
    db.execute("LOAD 'auto_explain'")
    db.execute("SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;"
               " SET auto_explain.log_level = notice")
    db.execute(sql).fetchall()
    db.execute(dsql).fetchall()
    assert any("source_q3c_idx" in p for p in plans) and any("detection_q3c_idx" in p for p in plans), plans


def test_the_cone_functions_are_q3c_radial_query(db):
    """xmm.sources_in_cone / detections_in_cone return exactly q3c_radial_query's rows: cones on the
    sample's sources and detections, at RA 0 and 360, at the poles, small and large."""
    centres = [tuple(r) for r in db.execute("SELECT sc_ra, sc_dec FROM xmm.source ORDER BY srcid LIMIT 40")]
    centres += [(0.0, 0.0), (359.99, 41.0), (10.0, 89.99), (200.0, -89.5), (10.68, 41.27), (148.97, 69.68)]
    cones = [(ra, dec, r) for ra, dec in centres for r in (5 / 3600, 10 / 60, 1.0, 12.0)]
    for table, fn, pos in (("xmm.source", "xmm.sources_in_cone", "sc_ra, sc_dec"),
                           ("xmm.detection", "xmm.detections_in_cone", "ra, dec")):
        key = "srcid" if table == "xmm.source" else "detid"
        differ = db.execute(
            f"SELECT count(*) FROM unnest(%s::float8[], %s::float8[], %s::float8[]) AS c(ra, dec, r)"
            f" WHERE ARRAY(SELECT {key} FROM {table} WHERE q3c_radial_query({pos}, c.ra, c.dec, c.r) ORDER BY 1)"
            f"   IS DISTINCT FROM ARRAY(SELECT {key} FROM {fn}(c.ra, c.dec, c.r) ORDER BY 1)",
            [list(x) for x in zip(*cones)]).fetchone()[0]
        assert differ == 0, table
    assert db.execute("SELECT count(*) FROM xmm.sources_in_cone(10.68, 41.27, 12)").fetchone()[0] > 100
    for ra, dec, r in ((0, 95, 1), (0, 0, float("nan")), (0, 0, 181), (float("inf"), 0, 1)):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="is not on the sky"):
            db.execute("SELECT count(*) FROM xmm.sources_in_cone(%s, %s, %s)", (ra, dec, r))
        db.rollback()


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("q, message", [
    ("M82 AND sc_hr2 >", "syntax error at column 17: expected a value after '>'"),
    ("sc_det_mll > 100", "unknown column 'sc_det_mll' (did you mean sc_det_ml?)"),
    ("M 999", "cannot resolve name 'M 999'"),
    ("cone('M 999', '1deg')", "cannot resolve name 'M 999'"),
    ("(is_ulx", "syntax error at column 8: the query ends too early"),
    ("is_ulx AND AND", "syntax error at column 12: unexpected 'AND'"),
    ("sc_det_ml > 'bright'", "cannot compare sc_det_ml (a number) with 'bright' (text) at column 13"),
    ("cone('M31', '10 parsec')", "'10 parsec' at column 13 is not a radius"),
    ("kone('M31', '1deg')", "unknown function 'kone' (did you mean cone?)"),
    ("sc_ra", "syntax error at column 1: sc_ra is a number, not true or false"),
    ("comments = NULL", "syntax error at column 10: nothing is = NULL"),
    ("3 > 4", "syntax error at column 1: a comparison needs a column on one side (3 > 4)"),
    ("sc_det_ml > 1e999", "the number 1e999 at column 13 is out of range"),
    ("iauname = 'open", "syntax error at column 11: the string starting here is not closed"),
    ("", "the query is empty"),
])
def test_errors_for_humans(db, q, message):
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT xmm_to_sql(%s)", (q,))
    diag = exc.value.diag
    assert diag.message_primary == message
    assert diag.sqlstate and not diag.sqlstate.startswith("XX") and not diag.sqlstate.startswith("38")
    db.rollback()


def test_errors_carry_hints(db):
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM xmm_search('sc_det_mll > 100')")
    assert exc.value.diag.sqlstate == "42703" and "xmm.source" in exc.value.diag.message_hint
    db.rollback()
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT * FROM xmm_search('M 999')")
    assert "coordinates" in exc.value.diag.message_hint


def test_literals_and_identifiers_are_quoted_as_psycopg_quotes_them():
    """xmmdb.sqlsafe quotes without importing psycopg in the server; its output is psycopg's."""
    import random

    from psycopg.sql import Identifier, Literal

    from xmmdb.sqlsafe import identifier, literal

    rng = random.Random(20261203)
    for _ in range(20000):
        text = "".join(rng.choice("ab\\'\"x é\n\t") for _ in range(rng.randint(0, 8)))
        assert literal(text) == Literal(text).as_string(None).strip(), text
        assert identifier(text) == Identifier(text).as_string(None), text
        number = rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-300, 300)
        assert literal(number) == Literal(number).as_string(None).strip(), number
        integer = rng.randint(-2 ** 63 + 1, 2 ** 63 - 1)
        assert literal(integer) == Literal(integer).as_string(None).strip(), integer
