"""Extraction in the browser: JS9's regions drive what the source and detection pages extract.

In headless Chromium (the harness of test_web_browser.py), each behaviour against the SQL
function it stands for: the photon count of the circle after moving and resizing it
(xmm_photons), the downloaded photons (xmm_photons rows, xmm_extract_events' event file), the
light curve's and the upper limit's options; the cursor readout against the image's WCS
(astropy); smoothing and binning change the image; the observation page's pages, filter and
per-camera events; a detection's two circles (pipeline green, 40" default blue); the cone-search
links open HTML; the fit form's reset. Screenshots: tests/artifacts/web_extract_*.png."""

from __future__ import annotations

import io
import re
import time
import urllib.request

import psycopg
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from test_web import app, bright, live_url, web_dsn  # noqa: F401 - shared fixtures
from test_web_browser import assert_clean, shot, wait  # noqa: F401 - the Chromium harness

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

REGIONS = "return JS9.GetRegions('all', {display: 'JS9'}).map(r => ({id: r.id, shape: r.shape, color: r.color," \
          " tags: r.tags, x: r.x, y: r.y, ra: r.ra, dec: r.dec, radius: r.radius, radii: r.radii}))"


def sql(web_dsn, query, params=()):
    with psycopg.connect(web_dsn) as conn:
        return conn.execute(query, params).fetchone()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def open_image(browser, url):
    browser.get(url)
    wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-ready") == "1", 90)


def counted(browser) -> tuple[int, dict]:
    """The photon count the page shows for its circle, and the circle it counted."""
    wait(browser, lambda d: d.find_element(By.ID, "xray").get_attribute("data-counted"), 60)
    box = browser.find_element(By.ID, "xray")
    at = dict(p.split("=") for p in box.get_attribute("data-counted-at").split("&"))
    return int(box.get_attribute("data-counted")), {k: float(v) for k, v in at.items() if k in ("ra", "dec", "radius")}


def sql_count(web_dsn, c) -> int:
    return sql(web_dsn, "SELECT count(*) FROM xmm.xmm_photons(%s, %s, %s)", (c["ra"], c["dec"], c["radius"]))[0]


@pytest.fixture(scope="module")
def pulsar_source(web_dsn):
    """A bright source with photons and a stored spectrum (the pipeline's circle is known)."""
    row = sql(web_dsn, """SELECT s.srcid, s.sc_ra, s.sc_dec, sqrt(p.backscal / pi()) * 0.05
                            FROM xmm.source s JOIN xmm.detection d USING (srcid) JOIN xmm.spectrum p USING (detid)
                           WHERE p.kind = 'source' AND EXISTS (SELECT 1 FROM xmm.xmm_photons(s.sc_ra, s.sc_dec, 15))
                           ORDER BY s.sc_ep_8_flux DESC NULLS LAST, p.total_counts DESC LIMIT 1""")
    assert row, "no source with photons and a spectrum in the sample"
    return {"srcid": row[0], "ra": row[1], "dec": row[2], "pipeline": row[3]}


def test_moving_and_resizing_the_region_changes_what_is_extracted(browser, live_url, web_dsn, pulsar_source):
    src = pulsar_source
    browser.downloads.mkdir(exist_ok=True)
    for f in browser.downloads.glob("*"):
        f.unlink()
    open_image(browser, f"{live_url}/source/{src['srcid']}")
    # the pipeline's circle is the one extracted at first, at the catalogue position
    n0, c0 = counted(browser)
    assert abs(c0["radius"] - src["pipeline"]) < 0.01 and abs(c0["ra"] - src["ra"]) < 1e-5
    assert n0 == sql_count(web_dsn, c0) > 0
    assert float(browser.find_element(By.ID, "radius").get_attribute("value")) == pytest.approx(src["pipeline"], abs=0.05)
    # drag the green circle 30 screen pixels right and 20 down, as a person does
    green = next(r for r in browser.execute_script(REGIONS) if "pipeline" in r["tags"])
    at = browser.execute_script("return JS9.ImageToDisplayPos({x: arguments[0], y: arguments[1]}, {display: 'JS9'})",
                                green["x"], green["y"])
    canvas = browser.find_element(By.CSS_SELECTOR, "#JS9 canvas")        # the layers share its place and size
    size = canvas.size
    (ActionChains(browser).move_to_element_with_offset(canvas, at["x"] - size["width"] / 2, at["y"] - size["height"] / 2)
     .click_and_hold().move_by_offset(10, 5).move_by_offset(20, 15).release().perform())
    wait(browser, lambda d: d.find_element(By.ID, "xray").get_attribute("data-moved") == "1", 30)
    wait(browser, lambda d: counted(d)[1]["ra"] != c0["ra"], 30)
    n1, c1 = counted(browser)
    assert n1 == sql_count(web_dsn, c1) and n1 != n0
    # the circle under the pointer (the blue one is drawn over the green) moved, and is the one counted
    moved = [r for r in browser.execute_script(REGIONS) if r["shape"] == "circle"
             and (r["ra"], r["dec"]) == pytest.approx((c1["ra"], c1["dec"]), abs=1e-5)]
    assert len(moved) == 1 and moved[0]["radius"] * 2 == pytest.approx(c1["radius"], abs=0.01)
    moved = moved[0]
    assert browser.find_element(By.ID, "region-moved").is_displayed()
    # resize it (JS9's handle does this): the count follows again
    browser.execute_script("JS9.ChangeRegions(arguments[0], {radius: arguments[1]}, {display: 'JS9'})",
                           moved["id"], moved["radius"] * 1.5)
    wait(browser, lambda d: abs(counted(d)[1]["radius"] - c1["radius"] * 1.5) < 0.05, 30)
    n2, c2 = counted(browser)
    assert n2 == sql_count(web_dsn, c2) and n2 > n1
    assert browser.find_element(By.ID, "radius").get_attribute("value") == f"{c2['radius']:.1f}"
    shot(browser, "extract_moved")
    # "Get photons" of the moved circle: the OGIP event file of the circle (xmm_extract_events_at),
    # as many events as xmm_photons counts in it, with its GTIs
    browser.find_element(By.ID, "photons-go").click()
    path = wait(browser, lambda d: next((p for p in d.downloads.glob("xmmdb_*_events.fits")), None), 120)
    wait(browser, lambda d: not list(d.downloads.glob("*.crdownload")), 60)
    with fits.open(path) as hdul:
        assert len(hdul["EVENTS"].data) == n2 and any(h.name.startswith("GTI") or h.name == "STDGTI" for h in hdul)
    path.unlink()
    # flux or upper limit in this region: xmm_upper_limit at the circle, its radius
    browser.find_element(By.ID, "ul-go").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#ul-table, #ul-result .error, #ul-result .na"), 120)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ul-table tbody tr")
    truth = sql(web_dsn, "SELECT count(*), sum(counts) FROM xmm.xmm_upper_limit(%s, %s, %s::jsonb)",
                (c2["ra"], c2["dec"], '{"radius": %.2f}' % c2["radius"]))
    assert len(rows) == truth[0] > 0
    assert sum(int(r.find_elements(By.TAG_NAME, "td")[2].text) for r in rows) == truth[1]

    # back at the catalogue position with a radius typed: the OGIP event file of xmm_extract_events
    browser.find_element(By.ID, "region-reset").click()
    wait(browser, lambda d: not d.find_element(By.ID, "xray").get_attribute("data-moved"), 30)
    box = browser.find_element(By.ID, "radius")
    box.clear()
    box.send_keys("25\t")
    wait(browser, lambda d: counted(d)[1]["radius"] == 25.0, 30)
    n3, c3 = counted(browser)
    assert n3 == sql_count(web_dsn, c3)
    assert [r for r in browser.execute_script(REGIONS) if r["shape"] == "circle"    # 2" pixels: the circle follows
            and r["radius"] * 2 == pytest.approx(25.0, abs=0.01)]
    for f in browser.downloads.glob("*"):
        f.unlink()
    browser.find_element(By.ID, "photons-go").click()
    path = wait(browser, lambda d: next((p for p in d.downloads.glob(f"xmmdb_{src['srcid']}_events*.fits")), None), 120)
    wait(browser, lambda d: not list(d.downloads.glob("*.crdownload")), 60)
    truth = sql(web_dsn, "SELECT xmm.xmm_extract_events(%s, 25)", (src["srcid"],))[0]
    with fits.open(path) as mine, fits.open(io.BytesIO(bytes(truth))) as theirs:
        assert len(mine["EVENTS"].data) == len(theirs["EVENTS"].data) > 0
        assert "GTI" in [h.name[:3] for h in mine]
    # the light curve and the periodogram ask for the circle's radius and the annulus drawn
    browser.find_element(By.ID, "bkg-on").click()
    wait(browser, lambda d: any(r["shape"] == "annulus" for r in d.execute_script(REGIONS)))
    ann = next(r for r in browser.execute_script(REGIONS) if r["shape"] == "annulus")
    assert [v * 2 for v in ann["radii"]] == pytest.approx([50.0, 100.0], abs=0.05)
    browser.find_element(By.ID, "lc-go").click()
    png = wait(browser, lambda d: d.find_elements(By.ID, "lc-png"), 120)[0].get_attribute("href")
    assert "%22radius%22%3A25" in png and "%22bkg_inner%22%3A50" in png and "%22bkg_outer%22%3A100" in png
    assert fetch(png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert_clean(browser)
    shot(browser, "extract_source")


def test_readout_shows_the_pixel_and_its_wcs(browser, live_url, bright):
    srcid = bright["photon_srcid"]
    open_image(browser, f"{live_url}/source/{srcid}")
    js9 = browser.find_element(By.ID, "JS9")
    ActionChains(browser).move_to_element_with_offset(js9, 60, -40).perform()
    readout = browser.find_element(By.ID, "js9-readout")
    wait(browser, lambda d: readout.get_attribute("data-x"), 10)
    x, y = float(readout.get_attribute("data-x")), float(readout.get_attribute("data-y"))
    ra, dec = float(readout.get_attribute("data-ra")), float(readout.get_attribute("data-dec"))
    with fits.open(io.BytesIO(fetch(f"{live_url}/source/{srcid}/image.fits?bin=2"))) as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        sky = WCS(hdu.header).pixel_to_world(x - 1, y - 1)          # FITS pixels count from 1
        value = hdu.data[int(round(y)) - 1, int(round(x)) - 1]
    assert abs(sky.ra.deg - ra) * 3600 < 0.5 and abs(sky.dec.deg - dec) * 3600 < 0.5
    text = readout.text
    assert f"{ra:.5f}" in text and f"{dec:+.5f}" in text.replace(" ", "")
    m = re.fullmatch(r"(\d\d)h(\d\d)m([\d.]+)s ([+-])(\d\d)°(\d\d)′([\d.]+)″",
                     readout.find_element(By.CSS_SELECTOR, "[data-k=sexa]").text)
    assert m, readout.text
    h, mi, se, sign, d, dm, ds = m.groups()
    assert abs((int(h) + int(mi) / 60 + float(se) / 3600) * 15 - sky.ra.deg) * 3600 < 0.5
    assert abs(float(sign + "1") * (int(d) + int(dm) / 60 + float(ds) / 3600) - sky.dec.deg) * 3600 < 0.5
    assert readout.find_element(By.CSS_SELECTOR, "[data-k=val]").text == str(int(value))
    assert readout.value_of_css_property("color") != readout.value_of_css_property("background-color")
    assert_clean(browser)
    shot(browser, "extract_readout")


def test_smoothing_and_binning_change_the_image(browser, live_url, bright):
    open_image(browser, f"{live_url}/source/{bright['photon_srcid']}")
    pixels = "return JS9.GetImageData(true, {display: 'JS9'}).data.reduce((a, v) => Math.max(a, v), 0)"
    canvas = "return document.querySelector('#JS9 canvas').toDataURL()"
    peak, before = browser.execute_script(pixels), browser.execute_script(canvas)
    Select(browser.find_element(By.ID, "js9-smooth")).select_by_value("2")
    wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-sigma") == "2")
    time.sleep(0.5)
    assert browser.execute_script(pixels) < peak                       # a Gaussian spreads the peak
    assert browser.execute_script(canvas) != before                    # and the picture changes
    shot(browser, "extract_smoothed")
    Select(browser.find_element(By.ID, "js9-smooth")).select_by_value("0")
    wait(browser, lambda d: d.execute_script(pixels) == peak)
    width = browser.execute_script("return JS9.GetImageData(false, {display: 'JS9'}).width")
    circles = [v for r in browser.execute_script(REGIONS) for v in (r["ra"], r["dec"], r["radius"] * 2)]
    Select(browser.find_element(By.ID, "js9-bin")).select_by_value("4")      # the server bins again
    wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-bin") == "4"
         and d.find_element(By.ID, "JS9").get_attribute("data-ready") == "1", 60)
    assert browser.execute_script("return JS9.GetImageData(false, {display: 'JS9'}).width") == width // 2
    assert "bin=4" in browser.find_element(By.ID, "image-link").get_attribute("href")
    after = [v for r in browser.execute_script(REGIONS) for v in (r["ra"], r["dec"], r["radius"] * 4)]
    assert len(after) == len(circles) == 6 and after == pytest.approx(circles, abs=1e-4)   # the same circles on the sky
    assert_clean(browser)


def test_observation_page_is_paged_and_its_events_download(browser, live_url, web_dsn):
    obs_id, n = sql(web_dsn, "SELECT d.obs_id, count(*) FROM xmm.detection d WHERE EXISTS"
                    " (SELECT 1 FROM xmm.exposure e WHERE e.obs_id = d.obs_id) GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
    assert n > 50
    browser.get(f"{live_url}/observation/{obs_id}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#obs-detections tbody tr")) == 50
    assert f"{n:,} detections" in browser.find_element(By.ID, "obs-count").text.replace(" of ", " ") or \
        f"of {n:,} detections" in browser.find_element(By.ID, "obs-count").text
    assert f"page 1 of {-(-n // 50)}" in browser.find_element(By.ID, "obs-pager").text
    wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-ready") == "1", 90)
    assert browser.execute_script("return document.body.scrollHeight") < 4000     # was 5,857 px with every row
    shot(browser, "extract_observation")
    first = browser.find_element(By.CSS_SELECTOR, "#obs-detections tbody tr td a").text
    browser.find_element(By.ID, "obs-next").click()
    wait(browser, lambda d: "page=2" in d.current_url)
    assert browser.find_element(By.CSS_SELECTOR, "#obs-detections tbody tr td a").text != first
    # a filter: detection likelihood at least 100
    strong = sql(web_dsn, "SELECT count(*) FROM xmm.detection WHERE obs_id = %s AND ep_8_det_ml >= 100", (obs_id,))[0]
    box = browser.find_element(By.NAME, "min_ml")
    box.clear()
    box.send_keys("100")
    browser.find_element(By.ID, "obs-filter-go").click()
    wait(browser, lambda d: "min_ml=100" in d.current_url)
    assert browser.find_element(By.ID, "obs-count").text.startswith(f"{strong:,} of {n:,}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#obs-detections tbody tr")) == min(strong, 50)
    # one camera's events: the OGIP event file of the field, that observation and camera, with its GTIs
    link = browser.find_elements(By.CSS_SELECTOR, "#obs-events a.cam-events")[0]
    camera = link.text
    ra, dec = sql(web_dsn, "SELECT ra_pnt, dec_pnt FROM xmm.observation WHERE obs_id = %s", (obs_id,))
    truth = sql(web_dsn, "SELECT count(*) FROM xmm.xmm_photons(%s, %s, 900) WHERE obs_id = %s AND instrument = %s",
                (ra, dec, obs_id, camera))[0]
    with fits.open(io.BytesIO(fetch(link.get_attribute("href")))) as hdul:
        assert len(hdul["EVENTS"].data) == truth > 0
        assert hdul["EVENTS"].header["OBS_ID"] == obs_id and hdul["EVENTS"].header["INSTRUME"] == camera
        assert "STDGTI" in hdul and len(hdul["STDGTI"].data) > 0
    assert_clean(browser)


def test_detection_page_draws_the_pipeline_and_default_circles(browser, live_url, web_dsn):
    detid, radius, obs_id = sql(web_dsn, """
        SELECT d.detid, sqrt(p.backscal / pi()) * 0.05, d.obs_id FROM xmm.detection d JOIN xmm.spectrum p USING (detid)
         WHERE p.kind = 'source' AND EXISTS (SELECT 1 FROM xmm.exposure e WHERE e.obs_id = d.obs_id)
         ORDER BY p.total_counts DESC LIMIT 1""")
    open_image(browser, f"{live_url}/detection/{detid}")
    regions = browser.execute_script(REGIONS)
    green = next(r for r in regions if "pipeline" in r["tags"])
    blue = next(r for r in regions if "default" in r["tags"])
    assert green["color"].lower() == "#00ff66" and blue["color"].lower() == "#4da3ff"
    assert green["radius"] * 2 == pytest.approx(radius, abs=0.01) and blue["radius"] * 2 == pytest.approx(40, abs=0.01)
    n, c = counted(browser)                           # this observation's photons only
    assert n == sql(web_dsn, "SELECT count(*) FROM xmm.xmm_photons(%s, %s, %s) WHERE obs_id = %s",
                    (c["ra"], c["dec"], c["radius"], obs_id))[0]
    assert browser.find_element(By.ID, "photons-go") and "pipeline" in browser.find_element(By.ID, "extraction").text
    # the blue circle chosen: extraction with 40"
    browser.find_element(By.CSS_SELECTOR, "#extraction input[value=default]").click()
    wait(browser, lambda d: counted(d)[1]["radius"] == 40.0, 30)
    assert browser.find_element(By.ID, "radius").get_attribute("value") == "40.0"
    assert_clean(browser)
    shot(browser, "extract_detection")
    # a detection without a stored spectrum: the 40" default alone
    bare = sql(web_dsn, """SELECT d.detid FROM xmm.detection d WHERE NOT EXISTS (SELECT 1 FROM xmm.spectrum p
                            WHERE p.detid = d.detid) AND d.obs_id = %s ORDER BY d.ep_8_flux DESC NULLS LAST LIMIT 1""",
               (obs_id,))[0]
    open_image(browser, f"{live_url}/detection/{bare}")
    regions = browser.execute_script(REGIONS)
    assert [r["color"].lower() for r in regions] == ["#4da3ff"]
    assert "no stored spectrum" in browser.find_element(By.ID, "extraction").text
    assert_clean(browser)


def test_cone_search_links_open_html(browser, live_url, bright):
    browser.get(live_url + "/")
    browser.find_element(By.ID, "nav-cone").click()
    wait(browser, lambda d: d.find_elements(By.ID, "cone-form"))
    browser.find_element(By.ID, "cone-pos").send_keys("M31")
    box = browser.find_element(By.ID, "cone-radius")
    box.clear()
    box.send_keys("3")
    browser.find_element(By.ID, "cone-go").click()
    wait(browser, lambda d: d.find_elements(By.ID, "results"))
    assert browser.execute_script("return document.contentType") == "text/html"
    assert "cone('M31', '3arcmin')" in browser.find_element(By.ID, "q").get_attribute("value")
    vot = browser.find_element(By.ID, "export-vot").get_attribute("href")   # the VOTable one click away
    assert b"<VOTABLE" in fetch(vot)[:400]
    shot(browser, "extract_cone")
    browser.get(f"{live_url}/source/{bright['srcid']}")
    browser.find_element(By.ID, "neighbours").click()
    wait(browser, lambda d: d.find_elements(By.ID, "results"))
    assert browser.execute_script("return document.contentType") == "text/html"
    assert_clean(browser)


def test_fit_form_resets_its_parameters_for_a_new_model(browser, live_url, bright, web_dsn):
    browser.get(f"{live_url}/source/{bright['spectrum_srcid']}")
    row = browser.find_elements(By.CSS_SELECTOR, "#fit-params tbody tr")[0]
    row.find_element(By.CLASS_NAME, "pname").send_keys("nH")
    row.find_element(By.CLASS_NAME, "pval").send_keys("0.5")
    row.find_element(By.CLASS_NAME, "pfrozen").click()
    box = browser.find_element(By.ID, "fit-expr")
    box.send_keys("phabs*bbody\t")                          # a new expression: the frozen nH goes
    assert [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params input.pname")] == [""] * 3
    assert [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params input.pval")] == [""] * 3
    assert not any(e.is_selected() for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params .pfrozen"))
    assert "reset" in browser.find_element(By.ID, "fit-status").text
    srcid = sql(web_dsn, "SELECT srcid FROM xmm.source s WHERE NOT EXISTS (SELECT 1 FROM xmm.detection d"
                " JOIN xmm.spectrum p USING (detid) WHERE d.srcid = s.srcid) ORDER BY srcid LIMIT 1")[0]
    browser.get(f"{live_url}/source/{srcid}")
    assert not browser.find_elements(By.ID, "fit-go")
    text = browser.find_element(By.ID, "spectra").text
    assert "cannot be fitted here" in text and "xmmdb" not in text
    assert_clean(browser)
