"""The VO interfaces as astronomers' tools see them: Simple Cone Search and TAP
through pyvo against the app served by waitress, TAP_SCHEMA as real tables
filled from the catalogue, the VOSI documents, and `stilts taplint`."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse, parse_single_table

from test_web import app, client, live_url, web_dsn  # noqa: F401 - shared fixtures

M82 = (148.97, 69.68)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


# -- TAP_SCHEMA in the database -------------------------------------------------------------

def test_tap_schema_is_filled_from_the_catalogue(web_dsn):
    with psycopg.connect(web_dsn) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM tap_schema.tables")}
        assert {"xmm.source", "xmm.detection", "xmm.observation", "tap_schema.tables", "tap_schema.columns",
                "tap_schema.schemas", "tap_schema.keys", "tap_schema.key_columns"} <= tables
        assert "xmm.load_log" not in tables and "xmm.tap_unpublished" not in tables
        cols = {r[0]: r[1:] for r in conn.execute(
            "SELECT column_name, ucd, unit, datatype, indexed, principal FROM tap_schema.columns"
            " WHERE table_name = 'xmm.source'")}
        assert cols["srcid"][:1] == ("meta.id;meta.main",)
        assert cols["sc_ra"][:3] == ("pos.eq.ra;meta.main", "deg", "double") and cols["sc_ra"][3] == 1
        assert cols["sc_dec"][0] == "pos.eq.dec;meta.main"
        assert cols["sc_ep_8_flux"][:3] == ("phot.flux;em.X-ray", "mW/m2", "float")
        assert cols["iauname"][2] == "char"
        # every column of the archive's own tables says what it is; the orbit's x is a position in km, not a pixel
        assert conn.execute("SELECT array_agg(table_name || '.' || column_name) FROM tap_schema.columns"
                            " WHERE coalesce(description, '') = '' AND table_name NOT LIKE 'usr.%'").fetchone()[0] is None
        assert conn.execute("SELECT unit, ucd FROM tap_schema.columns WHERE table_name = 'xmm.orbit'"
                            " AND column_name = 'x'").fetchone() == ("km", "pos.cartesian.x")
        # no column without a VOTable type (pgSphere polygons, arrays) is published
        assert not conn.execute("SELECT 1 FROM tap_schema.columns WHERE table_name = 'xmm.observation'"
                                " AND column_name = 'footprint'").fetchone()
        keys = conn.execute("SELECT k.from_table, k.target_table, c.from_column, c.target_column FROM tap_schema.keys k"
                            " JOIN tap_schema.key_columns c USING (key_id) WHERE k.from_table = 'xmm.detection'").fetchall()
        assert ("xmm.detection", "xmm.source", "srcid", "srcid") in keys
        # reserved ADQL words are delimited as TAP 1.1 asks
        assert conn.execute("SELECT column_name FROM tap_schema.columns WHERE table_name = 'tap_schema.columns'"
                            " AND column_name LIKE '%size%' AND column_name <> 'arraysize'").fetchone()[0] == '"size"'
        from astropy import units as u

        for (unit,) in conn.execute("SELECT DISTINCT unit FROM tap_schema.columns WHERE unit IS NOT NULL"):
            u.Unit(unit, format="vounit")  # TAP 1.1 and VOTable 1.4
            u.Unit(unit, format="cds")  # VOTable 1.3, what astropy reads our VOTables with
        before = conn.execute("SELECT count(*) FROM tap_schema.columns").fetchone()[0]
        n = conn.execute("SELECT xmm.tap_schema_refresh()").fetchone()[0]
        assert n == len(tables)
        assert conn.execute("SELECT count(*) FROM tap_schema.columns").fetchone()[0] == before
        conn.rollback()


# -- Simple Cone Search ---------------------------------------------------------------------

def test_scs_with_pyvo(live_url, web_dsn):
    import pyvo

    scs = pyvo.dal.SCSService(live_url + "/vo/scs")
    res = scs.search(pos=M82, radius=0.1)
    with psycopg.connect(web_dsn) as conn:
        n = conn.execute("SELECT count(*) FROM xmm.source WHERE q3c_radial_query(sc_ra, sc_dec, %s, %s, 0.1)",
                         M82).fetchone()[0]
    assert n > 0 and len(res) == n
    ucds = {f.ucd: f.name for f in res.fielddescs}
    assert ucds["ID_MAIN"] == "srcid"           # the columns Cone Search 1.03 requires, in its UCD1 words
    assert ucds["POS_EQ_RA_MAIN"] == "sc_ra" and ucds["POS_EQ_DEC_MAIN"] == "sc_dec"
    assert {f.name: f.ucd for f in res.fielddescs}["sc_ep_8_flux"] == "phot.flux;em.X-ray"   # the others: UCD1+
    first = res[0]
    assert first.id == first["srcid"] and first.pos.separation(SkyCoord(*M82, unit="deg")).deg <= 0.1
    table = res.to_table()
    assert table["sc_ra"].unit == "deg"


def test_stilts_coneskymatch_finds_a_compliant_cone_search(live_url, tmp_path):
    """STILTS matches a list of positions against /vo/scs and finds nothing to warn about
    (it names a service without the Cone Search 1.03 columns as one that violates it)."""
    assert shutil.which("stilts"), "stilts (Debian package, setup/deps.sh) is missing"
    (tmp_path / "in.csv").write_text("ra,dec\n148.97,69.68\n10.68,41.27\n")
    out = subprocess.run(["stilts", "coneskymatch", f"in={tmp_path / 'in.csv'}", "ifmt=csv", "ra=ra", "dec=dec",
                          "sr=0.05", f"serviceurl={live_url}/vo/scs?", "usefoot=false",
                          f"out={tmp_path / 'out.csv'}", "ofmt=csv"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "violat" not in out.stderr.lower(), out.stderr
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert rows[0].startswith("ra,dec,srcid,") and len(rows) >= 3     # both positions have sources


def test_scs_metadata_and_errors(client):
    rv = client.get("/vo/scs?RA=10.68&DEC=41.27&SR=0")
    table = parse_single_table(io.BytesIO(rv.data))
    assert len(table.array) == 0
    assert {f.ucd for f in table.fields} >= {"ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"}
    for bad in ("/vo/scs?RA=10.68&DEC=41.27", "/vo/scs?RA=abc&DEC=1&SR=0.1", "/vo/scs?RA=10&DEC=95&SR=0.1",
                "/vo/scs?RA=10&DEC=1&SR=10.5", "/vo/scs?RA=400&DEC=1&SR=0", "/vo/scs?RA=nan&DEC=1&SR=1"):
        body = client.get(bad).get_data(as_text=True)
        assert 'name="Error"' in body and 'value="ERROR"' in body, bad
    assert "SR in [0, 10] degrees" in client.get("/vo/scs?RA=10&DEC=1&SR=10.5").get_data(as_text=True)
    verbose = parse_single_table(io.BytesIO(client.get("/vo/scs?RA=148.97&DEC=69.68&SR=0.05&VERB=3").data))
    brief = parse_single_table(io.BytesIO(client.get("/vo/scs?RA=148.97&DEC=69.68&SR=0.05&VERB=1").data))
    assert len(verbose.fields) > len(brief.fields) >= 3


# -- TAP --------------------------------------------------------------------------------------

def test_vosi_documents(client):
    avail = ET.fromstring(client.get("/tap/availability").data)
    assert avail.find("{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available").text == "true"
    caps = client.get("/tap/capabilities").get_data(as_text=True)
    assert 'standardID="ivo://ivoa.net/std/TAP"' in caps and "<alias>votable</alias>" in caps
    tables = ET.fromstring(client.get("/tap/tables").data)
    names = [t.text for t in tables.iter("name")]
    assert "xmm.source" in names and "tap_schema.columns" in names and "sc_ep_8_flux" in names
    assert "foreignKey" in client.get("/tap/tables").get_data(as_text=True)


def test_tap_reports_errors_as_votable(app, client):
    rv = client.get("/tap/sync?REQUEST=doQuery&LANG=ADQL")
    assert rv.status_code == 400 and 'value="ERROR"' in rv.get_data(as_text=True) and "QUERY" in rv.get_data(as_text=True)
    rv = client.get("/tap/sync?REQUEST=doQuery&LANG=SQL&QUERY=SELECT+1")
    assert rv.status_code == 400 and "LANG=SQL" in rv.get_data(as_text=True)


def test_tap_sync_with_pyvo(app, live_url):
    import pyvo

    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.run_sync("SELECT TOP 5 srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux FROM xmm.source ORDER BY srcid")
    assert len(res) == 5 and list(res["srcid"]) == sorted(res["srcid"])
    assert {f.ucd: f.name for f in res.fielddescs}["pos.eq.ra;meta.main"] == "sc_ra"
    cone = tap.run_sync("SELECT srcid FROM xmm.source WHERE CONTAINS(POINT('ICRS', sc_ra, sc_dec), "
                        f"CIRCLE('ICRS', {M82[0]}, {M82[1]}, 0.1)) = 1")
    assert len(cone) > 0
    meta = tap.run_sync("SELECT table_name FROM tap_schema.tables")
    assert "xmm.source" in [str(x) for x in meta["table_name"]]
    with pytest.raises(pyvo.dal.DALQueryError, match="sc_det_mll"):
        tap.run_sync("SELECT sc_det_mll FROM xmm.source")


def test_tap_maxrec_overflow_and_csv(app, client):
    q = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": "SELECT srcid FROM xmm.source", "MAXREC": "7"}
    rv = client.get("/tap/sync", query_string=q)
    vot = parse(io.BytesIO(rv.data))
    assert len(vot.get_first_table().array) == 7
    assert 'value="OVERFLOW"' in rv.get_data(as_text=True) and "truncated at 7 rows" in rv.get_data(as_text=True)
    rv = client.get("/tap/sync", query_string={**q, "FORMAT": "csv", "MAXREC": "3"})
    lines = rv.get_data(as_text=True).strip().split("\n")
    assert rv.mimetype == "text/csv" and lines[0] == "srcid" and len(lines) == 5 and "truncated" in lines[-1]
    rv = client.get("/tap/sync", query_string={**q, "MAXREC": "0"})
    assert len(parse(io.BytesIO(rv.data)).get_first_table().array) == 0


def test_tap_async_with_pyvo(app, live_url):
    import pyvo

    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.run_async("SELECT TOP 3 srcid FROM xmm.source ORDER BY srcid")
    assert len(res) == 3


@pytest.mark.slow
def test_stilts_taplint_finds_no_errors(app, live_url):
    assert shutil.which("stilts"), "stilts (Debian package, setup/deps.sh) is missing"
    out = subprocess.run(["stilts", "taplint", f"tapurl={live_url}/tap", "report=EWF", "maxrepeat=3"],
                         capture_output=True, text=True, timeout=240)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "taplint.txt").write_text(out.stdout + out.stderr)
    errors = [line for line in out.stdout.splitlines() if re.match(r"E-[A-Z]{3}-", line)]
    assert not errors, "\n".join(errors)
    # every stage runs; the one failure is ObsLocTAP's (an observation-planning table this archive has not)
    failures = [line for line in out.stdout.splitlines() if re.match(r"F-[A-Z]{3}-", line)]
    assert all(line.startswith("F-LOC-") for line in failures), "\n".join(failures)
    assert "Section OBS" in out.stdout and "Section UPL" in out.stdout and "Section EXA" in out.stdout
    assert re.search(r"Totals: Errors: 0; Warnings: 0;", out.stdout), out.stdout[-300:]
