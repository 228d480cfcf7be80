"""TAP UPLOAD (TAP 1.1 §3.3.5, DALI): a table sent with a query is TAP_UPLOAD.<name>,
cross-matched with the catalogue through Q3C, as pyvo, STILTS (tapquery, tapskymatch) and
TOPCAT send it, sync and async; the plan uses the index; the bounds and the errors say what
is wrong; names cannot inject SQL or shadow the catalogue; an upload is gone with its request."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import time
import urllib.request
import warnings
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.table import Table

from conftest import served
from test_web import web_dsn  # noqa: F401 - shared fixture
from xmmdb_loader.roles import login_dsn
from xmmdb_web import formats, vo
from xmmdb_web.app import create_app
from xmmdb_web.db import resolve_dsn

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
RADIUS = 5.0 / 3600
CONTAINS_MATCH = ("SELECT m.id, s.srcid FROM TAP_UPLOAD.mine AS m JOIN xmm.source AS s "
                  "ON 1 = CONTAINS(POINT('ICRS', s.sc_ra, s.sc_dec), CIRCLE('ICRS', m.ra, m.dec, 5./3600))")
DISTANCE_MATCH = ("SELECT m.id, s.srcid FROM TAP_UPLOAD.mine AS m, xmm.source AS s "
                  "WHERE DISTANCE(POINT('ICRS', s.sc_ra, s.sc_dec), POINT('ICRS', m.ra, m.dec)) < 5./3600")


@pytest.fixture(scope="module")
def shim(web_dsn):
    """The shim as `make run` starts it: as its own reader login."""
    app = create_app(resolve_dsn(web_dsn), hips_url="")
    app.config["TESTING"] = True
    yield app
    app.extensions["xmmdb"].close()


@pytest.fixture(scope="module")
def url(shim):
    """The shim served by waitress on a free loopback port, for pyvo and STILTS."""
    with served(shim) as base:
        yield base


@pytest.fixture(scope="module")
def positions(web_dsn) -> Table:
    """Every 20th sample source moved by 1″ (each must find its source within 5″), and three
    positions far from any source; RA and Dec carry their UCDs, as TOPCAT's tables do."""
    with psycopg.connect(web_dsn) as conn:
        rows = conn.execute("SELECT srcid, sc_ra, sc_dec FROM xmm.source WHERE srcid % 20 = 0 ORDER BY srcid").fetchall()
    ids = [r[0] for r in rows] + [-1, -2, -3]
    ra = [r[1] + 1 / 3600 for r in rows] + [0.5, 200.0, 300.0]
    dec = [r[2] for r in rows] + [-80.0, -60.0, 5.0]
    table = Table({"id": np.array(ids, dtype="i8"), "ra": ra, "dec": dec, "name": [f"p{i}" for i in ids]})
    table["ra"].meta["ucd"], table["ra"].unit = "pos.eq.ra;meta.main", "deg"
    table["dec"].meta["ucd"], table["dec"].unit = "pos.eq.dec;meta.main", "deg"
    return table


def votable(table: Table, serialization: str = "tabledata") -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # astropy makes IDs of names that are not XML names
        table.write(out, format="votable", tabledata_format=serialization)
    return out.getvalue()


def q3c_join(dsn: str, table: Table, radius: float = RADIUS) -> set[tuple[int, int]]:
    """The same match in SQL: (id, srcid) of the table's positions within radius of a source."""
    with psycopg.connect(dsn) as conn:
        return set(conn.execute(
            "SELECT m.id, s.srcid FROM unnest(%s::bigint[], %s::float8[], %s::float8[]) AS m(id, ra, dec)"
            " JOIN xmm.source AS s ON q3c_join(m.ra, m.dec, s.sc_ra, s.sc_dec, %s)",
            ([int(i) for i in table["id"]], [float(x) for x in table["ra"]], [float(x) for x in table["dec"]],
             radius)).fetchall())


def pairs(result, a: str = "id", b: str = "srcid") -> set[tuple[int, int]]:
    return {(int(r[a]), int(r[b])) for r in result}


def sync(client, query: str, upload: str | None, parts: dict[str, bytes] | None = None, **params):
    """A multipart TAP sync request through Flask's test client: (HTTP status, body)."""
    data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, **params}
    if upload is not None:
        data["UPLOAD"] = upload
    for key, body in (parts or {}).items():
        data[key] = (io.BytesIO(body), f"{key}.xml")
    rv = client.post("/tap/sync", data=data, content_type="multipart/form-data")
    return rv.status_code, rv.get_data(as_text=True)


def error_of(body: str) -> str:
    found = re.search(r'<INFO name="QUERY_STATUS" value="ERROR">(.*?)</INFO>', body, re.S)
    assert found, body[:500]
    return found.group(1)


def temporary_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()")]


# -- pyvo ----------------------------------------------------------------------------------

def test_pyvo_run_sync_matches_an_uploaded_table_as_q3c_join_does(url, positions, web_dsn):
    import pyvo

    tap = pyvo.dal.TAPService(url + "/tap")
    want = q3c_join(web_dsn, positions)
    assert len(want) >= 40 and all(i == s for i, s in want)         # each moved source finds itself
    for query in (CONTAINS_MATCH, DISTANCE_MATCH):
        assert pairs(tap.run_sync(query, uploads={"mine": positions})) == want, query
    # the upload's own columns keep the UCDs and units it gave them; its strings come back
    res = tap.run_sync("SELECT m.ra, m.name FROM TAP_UPLOAD.mine AS m WHERE m.id < 0 ORDER BY m.id DESC",
                       uploads={"mine": positions})
    fields = {f.name: f for f in res.fielddescs}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["ra"].unit == "deg"
    assert [str(x) for x in res["name"]] == ["p-1", "p-2", "p-3"]


def test_a_job_result_uploads_by_its_url(url, positions, web_dsn):
    """upload-http: the result of one of the client's own jobs, named by its URL, is uploaded as if
    sent with the request (the service fetches nothing from elsewhere: it has no network)."""
    import pyvo

    tap = pyvo.dal.TAPService(url + "/tap")
    job = tap.submit_job("SELECT TOP 25 srcid, sc_ra AS ra, sc_dec AS dec FROM xmm.source ORDER BY srcid")
    job.run().wait(phases=["COMPLETED", "ERROR"], timeout=60)
    assert job.phase == "COMPLETED"
    res = tap.run_sync("SELECT p.srcid, s.srcid AS matched FROM TAP_UPLOAD.prev AS p JOIN xmm.source AS s "
                       "ON 1 = CONTAINS(POINT('ICRS', s.sc_ra, s.sc_dec), CIRCLE('ICRS', p.ra, p.dec, 1./3600)) "
                       "ORDER BY p.srcid", uploads={"prev": job.result_uri})
    assert [int(x) for x in res["srcid"]] == [int(x) for x in res["matched"]] and len(res) == 25
    job.delete()


def test_csv_and_binary2_uploads_are_read_as_votable_tabledata_is(url, positions, web_dsn):
    import requests

    want = q3c_join(web_dsn, positions)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "RA", "Dec"])                   # no UCDs: the columns called ra and dec
    writer.writerows(zip(positions["id"].tolist(), positions["ra"].tolist(), positions["dec"].tolist()))
    for body, mime in ((text.getvalue().encode(), "text/csv"),
                       (votable(positions, "binary2"), "application/x-votable+xml")):
        rv = requests.post(url + "/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv",
                                                    "QUERY": CONTAINS_MATCH, "UPLOAD": "mine,param:table1"},
                           files={"table1": ("table1", body, mime)}, timeout=60)
        assert rv.status_code == 200, rv.text
        assert pairs(csv.DictReader(io.StringIO(rv.text))) == want, mime


def test_pyvo_run_async_with_two_uploads_and_one_added_to_the_job(url, positions, web_dsn):
    import pyvo

    tap = pyvo.dal.TAPService(url + "/tap")
    other = Table({"id": positions["id"][::2], "weight": np.arange(len(positions))[::2] * 0.5})
    kept = {int(i) for i in other["id"]}
    want = {p for p in q3c_join(web_dsn, positions) if p[0] in kept}
    query = ("SELECT m.id, s.srcid, o.weight FROM TAP_UPLOAD.mine AS m JOIN TAP_UPLOAD.other AS o ON o.id = m.id "
             "JOIN xmm.source AS s ON 1 = CONTAINS(POINT('ICRS', s.sc_ra, s.sc_dec), CIRCLE('ICRS', m.ra, m.dec, "
             "5./3600))")
    res = tap.run_async(query, uploads={"mine": positions, "other": other})
    assert pairs(res) == want and len(want) > 10
    # a pending job takes another upload (UWS: POST to its parameters), and runs with both
    job = pyvo.dal.AsyncTAPJob.create(url + "/tap", query, uploads={"mine": positions})
    job.upload(other=other)
    doc = job._session.get(job.url).text
    assert "mine,param:mine;other,param:other" in doc and "xmmdb:" not in doc and "VOTABLE" not in doc
    job.run().wait(timeout=60)
    job.raise_if_error()
    assert pairs(job.fetch_result()) == want
    job.delete()


# -- the plan --------------------------------------------------------------------------------

def test_the_cross_match_finds_its_pairs_through_the_q3c_index(web_dsn, positions):
    """The shim's own login creates the upload (readers may make temporary tables), and both
    forms of the match become q3c_join on the catalogue's index, not a scan of xmm.source."""
    plans = []
    with psycopg.connect(resolve_dsn(web_dsn), autocommit=True) as conn:      # as the shim's pool has them
        user, temporary = conn.execute("SELECT current_user, has_database_privilege(current_database(),"
                                       " 'TEMPORARY')").fetchone()
        assert user == "xmm_web" and temporary
        assert not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        uploads = [formats.read_upload("mine", votable(positions), max_rows=vo.UPLOAD_MAX_ROWS,
                                       max_columns=vo.UPLOAD_MAX_COLUMNS)]
        big = Table({"ra": np.random.default_rng(1).uniform(0, 360, 20_000),
                     "dec": np.degrees(np.arcsin(np.random.default_rng(2).uniform(-1, 1, 20_000)))})
        uploads.append(formats.read_upload("big", votable(big, "binary2"), max_rows=vo.UPLOAD_MAX_ROWS,
                                           max_columns=vo.UPLOAD_MAX_COLUMNS))
        with conn.transaction():
            vo.load_uploads(conn, uploads)
            for query in (CONTAINS_MATCH, DISTANCE_MATCH):
                sql = conn.execute("SELECT xmm.xmm_adql(%s)", (query,)).fetchone()[0]
                assert 'q3c_join("m".ra, "m"."dec", "s".sc_ra, "s".sc_dec, ' in sql, sql
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql))
                plans.append(f"{query}\n{sql}\n{plan}\n")
                assert "Index Cond: ((q3c_ang2ipix(sc_ra, sc_dec) >= q3c_nearby_it(m.ra, m.\"dec\"" in plan, plan
                assert "source_q3c_idx" in plan and "Seq Scan on source" not in plan, plan
            # a cone in an upload is found through the upload's own index
            cone = conn.execute("SELECT xmm.xmm_adql('SELECT COUNT(*) AS n FROM TAP_UPLOAD.big AS b WHERE "
                                "CONTAINS(POINT(''ICRS'', b.ra, b.dec), CIRCLE(''ICRS'', 10, 20, 2)) = 1')").fetchone()[0]
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + cone))
            plans.append(f"{cone}\n{plan}\n")
            assert "tap_upload_big_q3c_ang2ipix_idx" in plan, plan
            assert conn.execute(cone).fetchone()[0] == sum(
                1 for r, d in zip(big["ra"], big["dec"]) if _separation(r, d, 10, 20) < 2)
        assert not [t for t in temporary_tables(conn) if t.startswith("tap_upload_")]   # ON COMMIT DROP
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "tap_upload_plans.txt").write_text("\n".join(plans))


def _separation(ra1, dec1, ra2, dec2) -> float:
    a1, d1, a2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    return float(np.degrees(np.arccos(np.clip(np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(a1 - a2),
                                              -1, 1))))


# -- STILTS ------------------------------------------------------------------------------------

def stilts(*args, timeout: int = 180) -> subprocess.CompletedProcess:
    assert shutil.which("stilts"), "stilts (Debian package, setup/deps.sh) is missing"
    out = subprocess.run(["stilts", *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_stilts_tapquery_with_an_upload_sync_and_async(url, positions, web_dsn, tmp_path):
    (tmp_path / "mine.vot").write_bytes(votable(positions))
    want = q3c_join(web_dsn, positions)
    for mode in ("true", "false"):
        out = tmp_path / f"out_{mode}.csv"
        stilts("tapquery", f"tapurl={url}/tap", "nupload=1", f"upload1={tmp_path / 'mine.vot'}", "ufmt1=votable",
               "upname1=mine", f"sync={mode}", f"adql={DISTANCE_MATCH}", f"out={out}", "ofmt=csv")
        assert pairs(csv.DictReader(out.open())) == want, f"sync={mode}"


def test_stilts_tapskymatch_against_the_catalogue(url, positions, web_dsn, tmp_path):
    table = positions.copy()
    table.remove_column("name")
    table.write(tmp_path / "in.csv", format="ascii.csv")
    out = tmp_path / "out.csv"
    stilts("tapskymatch", f"in={tmp_path / 'in.csv'}", "ifmt=csv", "inlon=ra", "inlat=dec", f"tapurl={url}/tap",
           "taptable=xmm.source", "taplon=sc_ra", "taplat=sc_dec", f"sr={RADIUS}", "find=all", "blocksize=20",
           f"out={out}", "ofmt=csv")
    assert pairs(csv.DictReader(out.open())) == q3c_join(web_dsn, positions)


# -- a real source list ------------------------------------------------------------------------

def test_an_xmm_atlas_source_list_uploaded_and_matched(url, web_dsn, shared_data):
    """The 1127 sources of an XMM atlas list (not 4XMM, 108 columns), uploaded as they are: all
    rows arrive, the match with xmm.source is the one SQL finds, and the list matched with itself
    (two uploads, both through the upload's own index) finds the pairs astropy finds."""
    import pyvo
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    atlas = Table.read(shared_data / "catalogs" / "xmmatlas_srclistnew_Legacy.fits")
    assert len(atlas) == 1127 and len(atlas.columns) == 108
    tap = pyvo.dal.TAPService(url + "/tap")
    summary = tap.run_sync("SELECT COUNT(*) AS n, SUM(cnt_total_full_70) AS counts, MAX(flux_full) AS brightest "
                           "FROM TAP_UPLOAD.atlas", uploads={"atlas": atlas})
    assert int(summary["n"][0]) == 1127
    assert int(summary["counts"][0]) == int(atlas["CNT_TOTAL_FULL_70"].sum())
    assert float(summary["brightest"][0]) == pytest.approx(float(atlas["FLUX_FULL"].max()))
    matched = tap.run_sync("SELECT a.box_id_src AS id, s.srcid FROM TAP_UPLOAD.atlas AS a JOIN xmm.source AS s "
                           "ON DISTANCE(POINT('ICRS', a.ra, a.dec), POINT('ICRS', s.sc_ra, s.sc_dec)) < 10./3600",
                           uploads={"atlas": atlas})
    ids = Table({"id": atlas["BOX_ID_SRC"], "ra": atlas["RA"], "dec": atlas["DEC"]})
    assert pairs(matched) == q3c_join(web_dsn, ids, 10 / 3600)
    twins = tap.run_sync("SELECT a.uxid AS a, b.uxid AS b FROM TAP_UPLOAD.atlas AS a JOIN TAP_UPLOAD.atlas AS b "
                         "ON 1 = CONTAINS(POINT('ICRS', b.ra, b.dec), CIRCLE('ICRS', a.ra, a.dec, 20./3600)) "
                         "WHERE a.uxid < b.uxid", uploads={"atlas": atlas})
    sky = SkyCoord(atlas["RA"], atlas["DEC"], unit="deg")
    i, j, _, _ = search_around_sky(sky, sky, 20 * u.arcsec)
    names = [x.decode() if isinstance(x, bytes) else str(x) for x in atlas["UXID"]]
    want = {(names[a], names[b]) for a, b in zip(i, j) if names[a] < names[b]}
    assert {(str(r["a"]), str(r["b"])) for r in twins} == want and len(want) >= 5


# -- bounds and errors -------------------------------------------------------------------------

def test_uploads_that_cannot_be_used_are_refused_with_the_reason(shim, positions, monkeypatch):
    client = shim.test_client()
    good = votable(positions)
    cases = [
        ("mine,http://example.org/t.xml", {}, "fetches no tables from other URLs"),
        ("mine,https://example.org/t.xml", {}, "send the table with the request: UPLOAD=mine,param:mine"),
        ("my-table,param:t", {"t": good}, "'my-table' is not a table name"),
        ('x";DROP TABLE xmm.source;--,param:t', {"t": good}, "is not a table name"),
        ("1st,param:t", {"t": good}, "is not a table name"),
        ("mine,param:nothere", {"t": good}, "no file part called nothere"),
        ("mine,param:t;mine,param:t", {"t": good}, "names the table mine twice"),
        ("mine,param:t", {"t": good[: len(good) // 2]}, "upload mine is not a VOTable that can be read"),
        ("mine,param:t", {"t": b""}, "upload mine is empty"),
        ("mine,param:t", {"t": votable(Table({"ra": [1.0], "pair": [[1.0, 2.0]]}))},
         "column 'pair' is double[2], a type a TAP_UPLOAD table cannot hold"),
        ("mine,param:t", {"t": votable(Table({"RA": [1.0], "ra": [2.0]}))}, "columns 'RA' and 'ra' have the same name"),
        ("mine,param:t", {"t": b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]><VOTABLE/>'},
         "may not declare XML entities"),
        ("mine,param:t", {"t": good.replace(b"<DATA>", b'<DATA><STREAM href="http://example.org/x"/>')},
         "behind a STREAM href"),
    ]
    for upload, parts, message in cases:
        status, body = sync(client, "SELECT COUNT(*) FROM TAP_UPLOAD.mine", upload, parts)
        assert status == 400 and message in error_of(body), (upload, body[:400])
    status, body = sync(client, "SELECT COUNT(*) FROM TAP_UPLOAD.mine", None)
    assert "this request uploads no tables" in error_of(body)
    # a column whose values PostgreSQL refuses: the upload, the line and the column are named
    stamps = good.replace(b'datatype="unicodeChar"', b'datatype="char" xtype="timestamp"')
    status, body = sync(client, "SELECT COUNT(*) FROM TAP_UPLOAD.mine", "mine,param:t", {"t": stamps})
    assert "upload mine: invalid input syntax for type timestamp" in error_of(body) and "column name" in body
    # the bounds, lowered for the test, each stated
    for bound, value, message in (("UPLOAD_MAX_ROWS", 5, f"has {len(positions)} rows, more than the 5 an upload"),
                                  ("UPLOAD_MAX_COLUMNS", 2, "has 4 columns, more than the 2 an upload"),
                                  ("UPLOAD_MAX_BYTES", 1000, "more than 1,000 bytes, the most one request"),
                                  ("UPLOAD_MAX_TABLES", 1, "2 uploads, more than the 1 a request")):
        with monkeypatch.context() as m:
            m.setattr(vo, bound, value)
            status, body = sync(client, "SELECT COUNT(*) FROM TAP_UPLOAD.a", "a,param:a;b,param:b",
                                {"a": good, "b": good} if bound == "UPLOAD_MAX_TABLES" else {"a": good, "b": b""})
            assert status == 400 and message in error_of(body), (bound, body[:400])
    # a job keeps its uploads: more than the bound is refused when it is created (HTTP 413)
    with monkeypatch.context() as m:
        m.setattr(vo, "UPLOAD_MAX_BYTES", 1000)
        rv = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT COUNT(*) FROM TAP_UPLOAD.a",
                                             "UPLOAD": "a,param:a", "a": (io.BytesIO(good), "a.xml")},
                         content_type="multipart/form-data")
        assert rv.status_code == 413 and "more than 1,000 bytes" in error_of(rv.get_data(as_text=True))


def test_pyvo_reports_the_errors_sync_and_async(url, positions, monkeypatch):
    import pyvo

    tap = pyvo.dal.TAPService(url + "/tap")
    with pytest.raises(pyvo.dal.DALQueryError, match="fetches no tables from other URLs"):
        tap.run_sync("SELECT * FROM TAP_UPLOAD.mine", uploads={"mine": "http://example.org/table.xml"})
    monkeypatch.setattr(vo, "UPLOAD_MAX_ROWS", 10)
    for run in (tap.run_sync, tap.run_async):
        with pytest.raises(pyvo.dal.DALQueryError, match="more than the 10 an upload may have"):
            run("SELECT * FROM TAP_UPLOAD.mine", uploads={"mine": positions})


def test_the_capabilities_declare_inline_and_http_upload_and_the_limit(shim):
    caps = ET.fromstring(shim.test_client().get("/tap/capabilities").data)
    tap = next(c for c in caps.iter("capability") if c.get("standardID") == "ivo://ivoa.net/std/TAP")
    assert [m.get("ivo-id") for m in tap.iter("uploadMethod")] == ["ivo://ivoa.net/std/TAPRegExt#upload-inline",
                                                                  "ivo://ivoa.net/std/TAPRegExt#upload-http"]
    hard = tap.find("uploadLimit/hard")
    assert hard.get("unit") == "byte" and int(hard.text) == vo.UPLOAD_MAX_BYTES == 64 * 1024 * 1024
    tags = [c.tag for c in tap]
    assert tags.index("uploadMethod") > tags.index("outputFormat") and tags[-1] == "uploadLimit"  # TAPRegExt's order


# -- names, sessions and the pool --------------------------------------------------------------

def test_names_inject_nothing_and_shadow_nothing(shim, web_dsn):
    client = shim.test_client()
    hostile = 'x"; DROP TABLE xmm.source; --'
    table = votable(Table({hostile: [1, 2, 3], "ra": [1.0, 2.0, 3.0], "dec": [0.0, 0.0, 0.0]}))
    with psycopg.connect(web_dsn) as conn:
        sources = conn.execute("SELECT count(*) FROM xmm.source").fetchone()[0]
    column = '"' + hostile.replace('"', '""') + '"'
    status, body = sync(client, f"SELECT SUM(s.{column}) AS total FROM TAP_UPLOAD.source AS s", "source,param:t",
                        {"t": table}, FORMAT="csv")
    assert status == 200 and body.splitlines()[1] == "6", body
    # an upload called source is TAP_UPLOAD.source; source and xmm.source stay the catalogue
    for query in ("SELECT COUNT(*) AS n FROM source", "SELECT COUNT(*) AS n FROM xmm.source"):
        status, body = sync(client, query, "source,param:t", {"t": table}, FORMAT="csv")
        assert body.splitlines()[1] == str(sources), (query, body)
    status, body = sync(client, "SELECT * FROM pg_temp.tap_upload_source", "source,param:t", {"t": table})
    assert "unknown table 'pg_temp.tap_upload_source'" in error_of(body)
    # another session's upload is not this request's
    with psycopg.connect(login_dsn(web_dsn, "xmm_user")) as reader:
        reader.execute("CREATE TEMPORARY TABLE tap_upload_secret (ra double precision, dec double precision)")
        status, body = sync(client, "SELECT * FROM TAP_UPLOAD.secret", None)
        assert "unknown table 'TAP_UPLOAD.secret'" in error_of(body)
    with psycopg.connect(web_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM xmm.source").fetchone()[0] == sources


def test_an_upload_is_gone_after_its_request(shim, positions):
    client = shim.test_client()
    good = votable(positions)
    status, body = sync(client, "SELECT COUNT(*) AS n FROM TAP_UPLOAD.mine", "mine,param:t", {"t": good}, FORMAT="csv")
    assert status == 200 and body.splitlines()[1] == str(len(positions))
    status, body = sync(client, "SELECT nope FROM TAP_UPLOAD.mine", "mine,param:t", {"t": good})
    assert "unknown column 'nope'" in error_of(body)             # a query that fails after the load
    status, body = sync(client, "SELECT * FROM TAP_UPLOAD.mine", "mine,param:t", {"t": good}, MAXREC="3")
    assert status == 200 and 'value="OVERFLOW"' in body          # one whose cursor was not read to its end
    rv = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT COUNT(*) FROM TAP_UPLOAD.mine",
                                         "UPLOAD": "mine,param:t", "PHASE": "RUN", "t": (io.BytesIO(good), "t.xml")},
                     content_type="multipart/form-data")
    job = rv.headers["Location"].rsplit("/", 1)[1]
    for _ in range(100):
        if client.get(f"/tap/async/{job}/phase").get_data(as_text=True) in ("COMPLETED", "ERROR"):
            break
        time.sleep(0.1)
    assert client.get(f"/tap/async/{job}/phase").get_data(as_text=True) == "COMPLETED"
    for _ in range(12):                                          # more requests than the pool has connections
        status, body = sync(client, "SELECT COUNT(*) FROM TAP_UPLOAD.mine", None)
        assert "this request uploads no tables" in error_of(body)
    db = shim.extensions["xmmdb"]
    with ExitStack() as stack:
        connections = [stack.enter_context(db.pool.connection()) for _ in range(db.pool.get_stats()["pool_size"])]
        assert connections and all(temporary_tables(c) == [] for c in connections)


@pytest.mark.slow
def test_two_hundred_thousand_rows_are_one_upload(url, web_dsn):
    """The declared row bound holds in practice: 200,000 positions (BINARY2, as STILTS sends)
    are loaded, indexed and matched within the statement timeout."""
    import requests

    n = vo.UPLOAD_MAX_ROWS
    rng = np.random.default_rng(7)
    with psycopg.connect(web_dsn) as conn:
        sources = np.array(conn.execute("SELECT sc_ra, sc_dec FROM xmm.source ORDER BY srcid").fetchall())
    near = sources[rng.integers(0, len(sources), n // 2)] + rng.normal(0, 2 / 3600, (n // 2, 2))
    far = np.column_stack([rng.uniform(0, 360, n - n // 2), rng.uniform(-89, 89, n - n // 2)])
    ra, dec = np.concatenate([near[:, 0] % 360, far[:, 0]]), np.clip(np.concatenate([near[:, 1], far[:, 1]]), -90, 90)
    table = Table({"id": np.arange(n, dtype="i8"), "ra": ra, "dec": dec})
    started = time.monotonic()
    rv = requests.post(url + "/tap/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv",
                                                "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.big AS m JOIN xmm.source "
                                                         "AS s ON DISTANCE(POINT('ICRS', m.ra, m.dec), POINT('ICRS', "
                                                         "s.sc_ra, s.sc_dec)) < 5./3600",
                                                "UPLOAD": "big,param:big"},
                       files={"big": ("big", votable(table, "binary2"), "application/x-votable+xml")}, timeout=120)
    elapsed = time.monotonic() - started
    assert rv.status_code == 200, rv.text
    with psycopg.connect(web_dsn) as conn:
        want = conn.execute("SELECT count(*) FROM unnest(%s::float8[], %s::float8[]) AS m(ra, dec) JOIN xmm.source s"
                            " ON q3c_join(m.ra, m.dec, s.sc_ra, s.sc_dec, 5/3600.)", (ra.tolist(), dec.tolist())
                            ).fetchone()[0]
    assert int(rv.text.splitlines()[1]) == want > n // 4
    assert elapsed < 60, f"{n:,} rows took {elapsed:.0f} s"


def test_every_tap_example_runs(url, positions):
    """The examples document (/tap/examples, DALI): each query runs through the service and finds
    rows on the sample sky, the cross-match with an uploaded table; taplint validates the document."""
    import html

    import pyvo

    page = urllib.request.urlopen(url + "/tap/examples").read().decode()
    queries = dict(re.findall(r'<div typeof="example" id="(\w+)".*?property="query">(.*?)</pre>', page, re.S))
    assert set(queries) == {"cone", "crossmatch", "photons", "detections", "fit"}
    tap = pyvo.dal.TAPService(url + "/tap")
    for key, query in queries.items():
        uploads = {"mine": positions} if "TAP_UPLOAD.mine" in query else None
        assert len(tap.run_sync(html.unescape(query), uploads=uploads)) > 0, key


def test_a_fit_over_a_query_s_result(url, web_dsn):
    """xmm_fit_flux and xmm_fit_stat (the service's ADQL functions, declared in the capabilities) are
    xmm_fit's flux and statistic for each row; TAP's read-only transaction keeps nothing in the fit cache."""
    import pyvo

    with psycopg.connect(web_dsn) as conn:
        srcids = [r[0] for r in conn.execute("SELECT DISTINCT d.srcid FROM xmm.spectrum p JOIN xmm.detection d "
                                             "USING (detid) WHERE p.kind = 'source' ORDER BY 1 LIMIT 3")]
        cached = conn.execute("SELECT count(*) FROM xmm.fit_cache").fetchone()[0]
    tap = pyvo.dal.TAPService(url + "/tap")
    got = tap.run_sync("SELECT srcid, xmm_fit_flux(srcid, 'phabs_pl') AS flux, xmm_fit_stat(srcid, 'phabs_pl') AS stat "
                       f"FROM xmm.source WHERE srcid IN ({', '.join(map(str, srcids))}) ORDER BY srcid")
    with psycopg.connect(web_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM xmm.fit_cache").fetchone()[0] == cached
        for row in got:
            flux, stat = conn.execute("SELECT flux, stat FROM xmm_fit(%s, 'phabs_pl')", (int(row["srcid"]),)).fetchone()
            assert row["flux"] == pytest.approx(flux, rel=1e-9) and row["stat"] == pytest.approx(stat, rel=1e-9)
        conn.rollback()
    assert len(got) == 3
    caps = urllib.request.urlopen(url + "/tap/capabilities").read().decode()
    assert "features-udf" in caps and "xmm_fit_flux(srcid BIGINT, model VARCHAR) -&gt; DOUBLE" in caps
    with pytest.raises(pyvo.dal.DALQueryError, match="XMM_FIT_FLUX takes 2 arguments"):
        tap.run_sync("SELECT xmm_fit_flux(srcid) FROM xmm.source")
