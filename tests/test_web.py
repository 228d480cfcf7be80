"""The web shim's routes through Flask's test client, against the run's scratch
database: search, errors with positions, paging and sorting, exports, the
source/detection/observation pages, products at stable URLs, the release the
status reports, and the DSN/role rules. The fixtures here (the app,
a live waitress server) are shared with test_web_browser.py and test_web_vo.py."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
import urllib.request
from html import unescape

import psycopg
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from conftest import served

from xmmdb_web.app import create_app
from xmmdb_web.db import resolve_dsn


@pytest.fixture(scope="session")
def web_dsn(request):
    """The run's scratch database ($XMMDB_WEB_TEST_DSN overrides, for working on the shim)."""
    return os.environ.get("XMMDB_WEB_TEST_DSN") or request.getfixturevalue("dsn")


@pytest.fixture(scope="session")
def app(web_dsn):
    application = create_app(web_dsn, hips_url="")
    application.config["TESTING"] = True
    yield application
    application.extensions["xmmdb"].close()   # before the run's database is dropped


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_url(app):
    """The app served by waitress on a free loopback port, for browsers, pyvo and stilts."""
    with served(app) as url:
        yield url


@pytest.fixture(scope="session")
def bright(web_dsn):
    """A bright, multiply detected sample source, and the source with the most spectral counts."""
    with psycopg.connect(web_dsn) as conn:
        srcid = conn.execute("SELECT srcid FROM xmm.source WHERE n_detections > 1 "
                             "ORDER BY sc_ep_8_flux DESC NULLS LAST LIMIT 1").fetchone()[0]
        spec = conn.execute("SELECT d.srcid FROM xmm.spectrum s JOIN xmm.detection d USING (detid) "
                            "WHERE s.kind = 'source' ORDER BY s.total_counts DESC LIMIT 1").fetchone()[0]
        photons = next(s for s, in conn.execute(      # the brightest with photons, asked in order of flux
            "SELECT s.srcid FROM (SELECT * FROM xmm.source ORDER BY sc_ep_8_flux DESC NULLS LAST LIMIT 500) s"
            " WHERE EXISTS (SELECT 1 FROM xmm.xmm_photons(s.sc_ra, s.sc_dec, 15, 200, 12000, NULL, NULL))"
            " ORDER BY s.sc_ep_8_flux DESC NULLS LAST LIMIT 1"))
    return {"srcid": srcid, "spectrum_srcid": spec, "photon_srcid": photons}


# -- search -----------------------------------------------------------------------------

def test_home_shows_box_examples_and_language_help(client):
    html = client.get("/").get_data(as_text=True)
    assert 'name="q"' in html and "Examples" in html or "not available" in html
    assert "show query language" in html
    assert "cone(" in html


def test_search_results_paged_and_sortable(app, client):
    html = client.get("/?q=cone('M31', '30arcmin')&per=10").get_data(as_text=True)
    total = int(re.search(r'id="count"><strong>([\d,]+)</strong>', html).group(1).replace(",", ""))
    assert total > 10
    assert html.count('href="/source/') >= 10
    assert 'id="next"' in html
    page2 = client.get("/?q=cone('M31', '30arcmin')&per=10&page=2").get_data(as_text=True)
    ids1 = re.findall(r'<td><a href="/source/(\d+)">', html)
    ids2 = re.findall(r'<td><a href="/source/(\d+)">', page2)
    assert len(ids1) == 10 and ids2 and not set(ids1) & set(ids2)
    desc = client.get("/?q=cone('M31', '30arcmin')&sort=sc_ep_8_flux&dir=desc&per=10").get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'<td><a href="/source/(\d+)">', desc)]
    with psycopg.connect(app.extensions["xmmdb"].dsn) as conn:
        top = [r[0] for r in conn.execute("SELECT srcid FROM xmm_search(%s) ORDER BY sc_ep_8_flux DESC NULLS LAST, "
                                          "srcid LIMIT 10", ("cone('M31', '30arcmin')",))]
    assert ids == top
    # an unknown sort column is ignored, not an injection
    assert client.get("/?q=M82&sort=srcid;DROP TABLE x").status_code == 200


def test_searches_around_a_position_give_distances_nearest_first_and_heads_give_units(app, client):
    """A name, a position or a cone: each row's distance from the position the query resolves
    to, nearest first unless another sort is asked for; units under the heads (TAP_SCHEMA's);
    RA and Dec also in sexagesimal."""
    q = "cone('M31', '10arcmin') AND sc_det_ml > 10"
    html = client.get("/", query_string={"q": q, "per": 200}).get_data(as_text=True)
    heads = re.findall(r'title="sort by (\w+)">', html)
    assert "distance" in heads
    ids = [int(x) for x in re.findall(r'<td><a href="/source/(\d+)">', html)]
    with psycopg.connect(app.extensions["xmmdb"].dsn) as conn:
        ra, dec = conn.execute("SELECT ra, dec FROM xmm_resolve('M31') LIMIT 1").fetchone()
        want = conn.execute("SELECT srcid, q3c_dist(%s, %s, sc_ra, sc_dec) * 3600 FROM xmm_search(%s) "
                            "ORDER BY 2, srcid", (ra, dec, q)).fetchall()
    assert ids == [w[0] for w in want][:200] and len(ids) > 5
    units = dict(zip(heads, [None] * len(heads)))
    for head, unit in re.findall(r'title="sort by (\w+)">[^<]*</a><span class="unit">([^<]+)</span>', html):
        units[head] = unescape(unit)
    assert units["sc_ra"] == "deg" and units["distance"] == "arcsec" and units["sc_ep_8_flux"] == "erg cm⁻² s⁻¹"
    assert re.search(r'<span class="sex">\d\dh\d\dm[\d.]+s</span>', html)
    assert re.search(r'<span class="sex">[+-]\d\d°\d\d′[\d.]+″</span>', html)
    # another sort still wins; a query without a position has no distance
    flux = client.get("/", query_string={"q": q, "sort": "sc_ep_8_flux", "dir": "desc"}).get_data(as_text=True)
    assert re.findall(r'<td><a href="/source/(\d+)">', flux)[0] != str(ids[0]) or len(ids) == 1
    assert 'title="sort by distance"' not in client.get("/", query_string={"q": "is_ulx = true"}).get_data(as_text=True)


def test_search_error_is_shown_next_to_the_query_with_position(app, client):
    html = client.get("/?q=sc_det_ml > ").get_data(as_text=True)
    assert 'id="query-error"' in html
    assert 'class="bad"' in html
    err = re.search(r'<pre class="caret">(.*?)</pre>', html, re.S).group(1)
    lines = err.split("\n")
    if len(lines) > 1:  # the message named a column: a caret under it
        assert lines[1].strip() == "^"
    html = client.get("/?q=sc_det_mll > 3").get_data(as_text=True)
    assert "sc_det_ml" in html and 'id="query-error"' in html


def test_a_bare_name_says_where_it_resolved(app, client):
    html = client.get("/?q=M82").get_data(as_text=True)
    assert 'id="resolved"' in html and "09h55m" in html
    assert 'id="resolved"' not in client.get("/?q=is_ulx = true").get_data(as_text=True)


def test_show_sql(app, client):
    html = client.get("/?q=M82&showsql=1").get_data(as_text=True)
    assert 'id="sql"' in html and "xmm.sources_in_cone(" in html


def test_exports_csv_votable_fits(app, client):
    q = "cone('M82', '10arcmin')"
    with psycopg.connect(app.extensions["xmmdb"].dsn) as conn:
        n = conn.execute("SELECT count(*) FROM xmm_search(%s)", (q,)).fetchone()[0]
    assert n > 0
    rv = client.get("/export.csv", query_string={"q": q})
    assert rv.status_code == 200 and "attachment" in rv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(rv.get_data(as_text=True))))
    assert len(rows) == n and "sc_ep_8_flux" in rows[0]
    rv = client.get("/export.vot", query_string={"q": q})
    table = parse_single_table(io.BytesIO(rv.data))
    assert len(table.array) == n
    ucds = {f.name: f.ucd for f in table.fields}
    assert ucds["srcid"] == "meta.id;meta.main" and ucds["sc_ra"] == "pos.eq.ra;meta.main"
    assert table.get_field_by_id_or_name("sc_ep_8_flux").unit.to("erg/(s cm2)") == 1.0
    rv = client.get("/export.fits", query_string={"q": q})
    with fits.open(io.BytesIO(rv.data)) as hdul:
        assert len(hdul[1].data) == n
        assert "SC_EP_8_FLUX" in [c.name.upper() for c in hdul[1].columns]


def test_export_is_capped_with_a_marker(app, client, monkeypatch):
    import xmmdb_web.app as web

    monkeypatch.setattr(web, "EXPORT_MAX", 5)
    fresh = create_app(app.extensions["xmmdb"].dsn).test_client()
    rv = fresh.get("/export.vot", query_string={"q": "cone('M31', '30arcmin')"})
    body = rv.get_data(as_text=True)
    assert 'value="OVERFLOW"' in body and "truncated at 5 rows" in body
    assert rv.headers["X-Truncated"] == "truncated at 5 rows"
    assert "# truncated at 5 rows" in fresh.get("/export.csv", query_string={"q": "cone('M31', '30arcmin')"}).get_data(as_text=True)


def test_api_search_for_diagrams(app, client):
    d = client.get("/api/search", query_string={"q": "cone('M31', '30arcmin')", "cols": "srcid,iauname,sc_hr2,sc_ep_8_flux"}).get_json()
    assert d["columns"] == ["srcid", "iauname", "sc_hr2", "sc_ep_8_flux"] and d["rows"]
    bad = client.get("/api/search", query_string={"q": "M82", "cols": "srcid,nope"})
    assert bad.status_code == 400 and "nope" in bad.get_json()["error"]


def test_help_and_diagram_pages(client):
    html = client.get("/help").get_data(as_text=True)
    assert "sc_ep_8_flux" in html and "phot.flux" in html
    assert 'id="diagram"' in client.get("/diagram?q=M82").get_data(as_text=True)


# -- source, detection, observation ---------------------------------------------------------

def test_source_page(client, bright):
    rv = client.get(f"/source/{bright['srcid']}")
    html = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert "4XMM J" in html and 'id="detections"' in html and 'id="aladin"' in html
    assert html.count('href="/detection/') >= 2
    assert "0.2–12 keV" in html
    d = client.get(f"/source/{bright['srcid']}.json").get_json()
    assert d["source"]["srcid"] == bright["srcid"] and len(d["detections"]) >= 2
    # its neighbours open as a page of results (the VOTable one click away), the source among them
    neighbours = unescape(re.search(r'id="neighbours" href="([^"]+)"', html).group(1))
    page = client.get(neighbours)
    assert page.status_code == 200 and f'href="/source/{bright["srcid"]}"' in page.get_data(as_text=True)
    assert "/vo/scs?" not in html.split("<main")[0]          # no raw VOTable in the navigation


def test_missing_source_is_404(client):
    rv = client.get("/source/999999999")
    assert rv.status_code == 404 and "999999999" in rv.get_data(as_text=True)


def test_detection_and_observation_pages(client, bright, web_dsn):
    with psycopg.connect(web_dsn) as conn:
        detid, obs_id = conn.execute("SELECT detid, obs_id FROM xmm.detection WHERE srcid = %s LIMIT 1",
                                     (bright["srcid"],)).fetchone()
    html = client.get(f"/detection/{detid}").get_data(as_text=True)
    assert f"Detection {detid}" in html and obs_id in html
    html = client.get(f"/observation/{obs_id}").get_data(as_text=True)
    assert f"Observation {obs_id}" in html and 'id="obs-detections"' in html
    assert client.get(f"/observation/{obs_id}.json").get_json()["detections"]


def test_an_observation_page_shows_its_own_photons(client, web_dsn):
    """An observation with loaded photons: its image (all its cameras, none of another epoch's)
    in JS9; one without photons says so."""
    with psycopg.connect(web_dsn) as conn:
        ra, dec = conn.execute("SELECT ra_pnt, dec_pnt FROM xmm.observation WHERE obs_id = '0112570101'").fetchone()
        mine = conn.execute("SELECT count(*) FROM xmm_photons(%s, %s, 16 * 60 * 1.41) WHERE obs_id = '0112570101' "
                            "AND abs(ra - %s) * cos(radians(%s)) < 16 / 60.0 AND abs(dec - %s) < 16 / 60.0",
                            (ra, dec, ra, dec, dec)).fetchone()[0]
        bare = conn.execute("SELECT obs_id FROM xmm.observation WHERE obs_id NOT IN (SELECT obs_id FROM xmm.exposure) "
                            "LIMIT 1").fetchone()[0]
    html = client.get("/observation/0112570101").get_data(as_text=True)
    assert 'id="JS9"' in html and 'href="/observation/0112570101/image.fits"' in html
    rv = client.get("/observation/0112570101/image.fits")
    with fits.open(io.BytesIO(rv.data)) as hdul:
        total = hdul[0].data.sum()
    assert rv.status_code == 200 and 0.98 * mine <= total <= mine     # its own photons: not the other M31 epoch's
    html = client.get(f"/observation/{bare}").get_data(as_text=True)
    assert 'id="no-photons"' in html and 'id="JS9"' not in html
    assert client.get("/observation/0000000000/image.fits").status_code == 404


def test_fit_json_and_png_at_stable_urls(app, client, bright):
    assert bright["spectrum_srcid"], "no spectra in the sample database"
    s = bright["spectrum_srcid"]
    rv = client.get(f"/source/{s}/fit.json?model=phabs_pl&emin=0.3&emax=10&group=20&stat=chi2xspecvar&method=levmar")
    assert rv.status_code == 200, rv.get_data(as_text=True)
    fit = rv.get_json()
    assert fit["model"] == "phabs_pl" and fit["params"] and fit["plot_url"].startswith(f"/source/{s}/fit.png?")
    png = client.get(fit["plot_url"])
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    # a frozen parameter is passed through as the fit's option
    name = fit["params"][0]["name"]
    frozen = client.get(f"/source/{s}/fit.json?model=phabs_pl&p.{name}=0.05&p.{name}.frozen=1").get_json()
    p0 = [p for p in frozen["params"] if p["name"] == name][0]
    assert p0["frozen"] and abs(p0["value"] - 0.05) < 1e-9
    bad = client.get(f"/source/{s}/fit.json?model=nosuchmodel")
    assert bad.status_code == 400 and "nosuchmodel" in bad.get_json()["error"]


def test_photons_download_opens_in_astropy(app, client, bright):
    assert bright["photon_srcid"], "no photons in the sample database"
    rv = client.get(f"/source/{bright['photon_srcid']}/events.fits?barycentre=1")
    assert rv.status_code == 200, rv.get_data(as_text=True)[:300]
    with fits.open(io.BytesIO(rv.data)) as hdul:
        assert hdul["EVENTS"].header["TIMESYS"] == "TDB" and len(hdul["EVENTS"].data) > 0


def test_timing_json(app, client, bright):
    assert bright["photon_srcid"], "no photons in the sample database"
    d = client.get(f"/source/{bright['photon_srcid']}/lightcurve.json?bin=1000").get_json()
    assert "rate" in d["columns"] and d["rows"]
    assert client.get(f"/source/{bright['photon_srcid']}/lightcurve.png?bin=1000").data[:4] == b"\x89PNG"


def test_status_reports_role_and_timeout(client):
    from xmmdb import __version__

    d = client.get("/status").get_json()
    assert d["statement_timeout"] in ("30s", "30000ms") and d["extension"] == __version__


def test_statement_timeout_is_set_on_connections(web_dsn):
    app = create_app(web_dsn, timeout_ms=1234)
    assert app.extensions["xmmdb"].value("SHOW statement_timeout") == "1234ms"


def test_dsn_rules(monkeypatch, web_dsn):
    monkeypatch.setenv("XMMDB_WEB_DSN", "host=/nowhere dbname=x user=y")
    assert resolve_dsn(web_dsn) == "host=/nowhere dbname=x user=y"
    monkeypatch.delenv("XMMDB_WEB_DSN")
    out = psycopg.conninfo.conninfo_to_dict(resolve_dsn(web_dsn))
    assert out["user"] == "xmm_web" and out["passfile"].endswith("pgpass") and "password" not in out


def test_favicon_and_blank_hips(client):
    assert client.get("/favicon.ico").status_code == 200
    assert "hips_tile_format" in client.get("/hips/blank/properties").get_data(as_text=True)
    assert client.get("/hips/blank/Norder3/Dir0/Npix1.png").data[:4] == b"\x89PNG"


def test_serve_start_is_idempotent_and_stop_stops(web_dsn, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XMMDB_WEB_DSN": web_dsn}
    cmd = [sys.executable, "-m", "xmmdb_web.serve"]
    try:
        for _ in range(2):
            out = subprocess.run(cmd + ["start", "--port", str(port), "--state", str(tmp_path)], env=env,
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr
        pid = int((tmp_path / "web.pid").read_text().split()[0])
        other = subprocess.run(cmd + ["start", "--port", str(port), "--state", str(tmp_path / "other")], env=env,
                               capture_output=True, text=True, timeout=60)
        assert other.returncode == 1 and "in use" in other.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as r:
            assert r.status == 200
    finally:
        subprocess.run(cmd + ["stop", "--state", str(tmp_path)], env=env, timeout=60, check=True)
    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert not (tmp_path / "web.pid").exists()


def test_the_shim_as_the_read_only_role(web_dsn, bright):
    """`make run` connects as the shim's own reader login: every feature must work as that role."""
    app = create_app(resolve_dsn(web_dsn))
    c = app.test_client()
    assert c.get("/status").get_json()["user"] == "xmm_web"
    assert c.get("/?q=M82").status_code == 200
    assert c.get(f"/source/{bright['srcid']}").status_code == 200
    assert c.get("/vo/scs?RA=148.97&DEC=69.68&SR=0.1").status_code == 200
    assert c.get("/tap/tables").status_code == 200
    assert c.get("/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=SELECT+TOP+1+srcid+FROM+xmm.source").status_code == 200
    assert c.get(f"/source/{bright['photon_srcid']}/events.fits").status_code == 200
    rv = c.get(f"/source/{bright['spectrum_srcid']}/fit.json?model=phabs_pl&emin=0.31")
    assert rv.status_code == 200, rv.get_json()
