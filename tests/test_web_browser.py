"""The web shim in a real browser: headless Debian chromium driven by selenium,
against the app served by waitress on a free loopback port. A person's steps:
type a query, see results, open a source, run a fit and see the plot, download
photons and open them with astropy, plot a diagram and click a point.

Every page is checked for JavaScript errors and for requests that leave
localhost (browser and performance logs). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from astropy.io import fits

from test_web import app, bright, live_url, web_dsn  # noqa: F401 - shared fixtures

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from conftest import ARTIFACTS

# Console noise of headless software rendering, not errors of ours.
BENIGN = ("swiftshader", "GPU stall", "GL Driver Message", "WebGL", "Automatic fallback to software WebGL")


def assert_clean(driver, allow: tuple[str, ...] = ()):
    """No JavaScript error in the console, no request outside localhost, since the last check."""
    errors = [e["message"] for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and not any(b in e["message"] for b in BENIGN + allow)]
    outside = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] != "Network.requestWillBeSent":
            continue
        url = msg["params"]["request"]["url"]
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "about", "chrome", "chrome-extension", "devtools"):
            continue
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            outside.append(url)
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests outside localhost: {outside}"


def shot(driver, name: str) -> None:
    height = driver.execute_script("return Math.min(document.body.scrollHeight, 4000)")
    driver.set_window_size(1400, max(height, 700))
    driver.save_screenshot(str(ARTIFACTS / f"web_{name}.png"))
    driver.set_window_size(1400, 1000)


def wait(driver, cond, timeout=60):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(cond)


def test_type_a_query_see_results_open_a_source(browser, live_url, app):
    browser.get(live_url + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("cone('M31', '20arcmin') AND sc_det_ml > 10", Keys.ENTER)
    wait(browser, lambda d: d.find_elements(By.ID, "results"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) > 5
    assert "sources" in browser.find_element(By.ID, "count").text
    heads = browser.find_element(By.CSS_SELECTOR, "#results thead").text
    assert "distance" in heads and "arcsec" in heads and "erg cm⁻² s⁻¹" in heads     # units under the names
    assert re.search(r"\d\dh\d\dm", rows[0].text)                                   # RA also sexagesimal
    assert_clean(browser)
    shot(browser, "search_results")
    # sort by flux, brightest first: click the header twice
    browser.find_element(By.LINK_TEXT, "sc_ep_8_flux").click()
    browser.find_element(By.PARTIAL_LINK_TEXT, "sc_ep_8_flux").click()
    assert "dir=desc" in browser.current_url
    first = browser.find_element(By.CSS_SELECTOR, "#results tbody tr td a")
    srcid = first.text
    first.click()
    wait(browser, lambda d: d.current_url.endswith(f"/source/{srcid}"))
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("4XMM J")
    wait(browser, lambda d: d.find_element(By.ID, "aladin").get_attribute("data-ready") == "1")
    if browser.find_elements(By.ID, "JS9"):  # the X-ray image of the field in JS9
        wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-ready") == "1")
        menu = browser.find_elements(By.CSS_SELECTOR, "#JS9Menubar button")[0]
        assert menu.value_of_css_property("color") == "rgba(34, 34, 34, 1)", "JS9's menus must be readable"
        assert browser.find_elements(By.CSS_SELECTOR, "#JS9Colorbar canvas"), "JS9 draws a colour bar"
    time.sleep(1)  # let the sky view draw its tiles and markers
    assert_clean(browser)
    shot(browser, "source")


def test_query_error_is_shown_with_its_position(browser, live_url, app):
    browser.get(live_url + "/")
    browser.find_element(By.ID, "q").send_keys("cone('M31', '20arcmin') AND sc_det_ml >", Keys.ENTER)
    err = wait(browser, lambda d: d.find_element(By.ID, "query-error"))
    assert err.is_displayed() and err.text.strip()
    assert "bad" in browser.find_element(By.ID, "q").get_attribute("class")
    assert_clean(browser)
    shot(browser, "query_error")


def test_run_a_fit_and_see_the_plot(browser, live_url, app, bright):
    assert bright["spectrum_srcid"], "no spectra in the sample database"
    browser.get(f"{live_url}/source/{bright['spectrum_srcid']}")
    browser.find_element(By.ID, "fit-go").click()
    wait(browser, lambda d: d.execute_script(
        "const i = document.getElementById('fit-plot'); return i && i.complete && i.naturalWidth > 0"), 120)
    table = browser.find_element(By.ID, "fit-param-table").text
    assert "PhoIndex" in table and "nH" in table and "10²² cm⁻²" in table      # the nH unit as written
    assert browser.execute_script(                                           # the table fits its card
        "const t = document.getElementById('fit-param-table');"
        "return t.scrollWidth <= t.parentElement.clientWidth"
        " && t.getBoundingClientRect().right <= document.getElementById('spectra').getBoundingClientRect().right")
    # the best-fit values are now in the form: freeze one and refit
    names = [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params .pname")]
    assert any("PhoIndex" in n for n in names)
    assert_clean(browser)
    browser.find_element(By.ID, "fit-plot").location_once_scrolled_into_view
    shot(browser, "fit")
    # another model: the previous model's parameters (values, frozen flags) are not carried over
    Select(browser.find_element(By.ID, "fit-model")).select_by_visible_text("phabs_bb")
    assert [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params .pname")] == [""] * 3
    assert not any(e.is_selected() for e in browser.find_elements(By.CSS_SELECTOR, "#fit-params .pfrozen"))
    assert "reset" in browser.find_element(By.ID, "fit-status").text


def test_a_source_without_a_spectrum_offers_no_fit(browser, live_url, web_dsn):
    import psycopg

    with psycopg.connect(web_dsn) as conn:
        srcid = conn.execute("SELECT srcid FROM xmm.source s WHERE NOT EXISTS (SELECT 1 FROM xmm.detection d"
                             " JOIN xmm.spectrum p USING (detid) WHERE d.srcid = s.srcid) ORDER BY srcid LIMIT 1"
                             ).fetchone()[0]
    browser.get(f"{live_url}/source/{srcid}")
    assert not browser.find_elements(By.ID, "fit-go")
    assert "cannot be fitted here" in browser.find_element(By.ID, "fit-none").text
    assert "xmmdb load" not in browser.find_element(By.ID, "spectra").text      # no administrator's command
    assert_clean(browser)


def test_get_photons_and_open_them_with_astropy(browser, live_url, app, bright):
    assert bright["photon_srcid"], "no photons in the sample database"
    browser.get(f"{live_url}/source/{bright['photon_srcid']}")
    browser.find_element(By.ID, "barycentre").click()
    browser.find_element(By.ID, "photons-go").click()
    path = wait(browser, lambda d: next((p for p in d.downloads.glob("*.fits")), None), 120)
    wait(browser, lambda d: not list(d.downloads.glob("*.crdownload")), 60)
    with fits.open(path) as hdul:
        events = hdul["EVENTS"]
        assert len(events.data) > 0
        assert events.header["TIMESYS"] == "TDB" and events.header["TIMEREF"] == "SOLARSYSTEM"
    assert_clean(browser)


def test_light_curve_and_periodogram_plots(browser, live_url, app, bright):
    truth = Path(__file__).resolve().parents[1] / "data" / "sample" / "truth" / "events.json"
    assert bright["photon_srcid"] and truth.is_file(), "no photons or no truth file in the sample"
    pulsar = json.loads(truth.read_text())["pulsar"]
    browser.get(f"{live_url}/source/{pulsar['srcid']}")
    browser.find_element(By.ID, "lc-go").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#lc-plot svg path.line, #lc-plot .error"), 120)
    assert not browser.find_elements(By.CSS_SELECTOR, "#lc-plot .error")
    # one panel, one line, per observation (the pulsar's two epochs are a year apart): never a line across the gap
    panels = browser.find_elements(By.CSS_SELECTOR, "#lc-plot .lc-panel")
    assert sorted(p.get_attribute("data-obs-id") for p in panels) == sorted(pulsar["observations"])
    assert all(len(p.find_elements(By.CSS_SELECTOR, "svg path.line")) == 1 for p in panels)
    assert "ct s⁻¹" in panels[0].text and "(ks)" in panels[0].text
    f0 = pulsar["frequency_hz"]
    browser.find_element(By.ID, "pg-go").click()           # the form's own range: 0.05-2 Hz
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#pg-plot svg path.line, #pg-plot .error"), 120)
    best = browser.find_element(By.ID, "pg-best").text
    found = float(re.search(r"best frequency ([\d.]+) Hz", best).group(1))
    assert abs(found - f0) < 1e-4, best                   # the fundamental, not f0 / 2
    assert "Z2_2 corrected for the GTIs' phase exposure" in best and "independent trials" in best, best
    assert_clean(browser)
    browser.find_element(By.ID, "timing").location_once_scrolled_into_view
    shot(browser, "timing")


def test_diagram_hover_shows_the_source_and_click_opens_it(browser, live_url, app):
    browser.get(f"{live_url}/diagram?q=cone('M31', '30arcmin')&kind=scatter&x=sc_hr2&y=sc_ep_8_flux&logy=on")
    points = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#diagram circle.pt"))
    assert len(points) > 10
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#diagram text.label")]
    assert "sc_ep_8_flux (erg cm⁻² s⁻¹)" in labels, labels          # axes carry TAP_SCHEMA's units
    top = points[-1]                                   # drawn last: no other point covers it
    ActionChains(browser).move_to_element(top).perform()
    tip = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#diagram .tip"))
    wait(browser, lambda d: tip.is_displayed() and "4XMM J" in tip.text)
    shot(browser, "diagram")
    top.click()
    wait(browser, lambda d: "/source/" in d.current_url)
    assert_clean(browser)
    browser.get(f"{live_url}/diagram?q=cone('M31', '30arcmin')&kind=hist&x=sc_hr2")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#diagram rect.bar"))
    assert_clean(browser)


def test_detection_observation_help_and_tap_pages(browser, live_url, web_dsn):
    import psycopg

    with psycopg.connect(web_dsn) as conn:
        detid, obs_id = conn.execute("SELECT detid, obs_id FROM xmm.detection ORDER BY ep_8_flux DESC NULLS LAST"
                                     " LIMIT 1").fetchone()
    browser.get(f"{live_url}/detection/{detid}")
    assert f"Detection {detid}" in browser.find_element(By.TAG_NAME, "h1").text
    assert_clean(browser)
    shot(browser, "detection")
    browser.get(f"{live_url}/observation/{obs_id}")
    wait(browser, lambda d: d.find_element(By.ID, "aladin").get_attribute("data-ready") == "1")
    time.sleep(1)
    assert_clean(browser)
    shot(browser, "observation")
    browser.get(f"{live_url}/observation/0112570101")       # with photons: its own image in JS9
    wait(browser, lambda d: d.find_element(By.ID, "JS9").get_attribute("data-ready") == "1", 60)
    assert browser.find_elements(By.CSS_SELECTOR, "#JS9Colorbar canvas")
    time.sleep(1)
    assert_clean(browser)
    shot(browser, "observation_image")
    for path in ("/help", "/tap", "/?q="):
        browser.get(live_url + path)
        assert_clean(browser)
    shot(browser, "home")


def test_send_a_result_table_to_a_samp_hub(browser, live_url, app):
    """"Send to TOPCAT/Aladin": the page's SAMP Web Profile client against a stand-in hub
    on the profile's port (21012), which records the XML-RPC calls."""
    import threading
    import xmlrpc.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = []

    class Hub(BaseHTTPRequestHandler):
        def _cors(self):
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")

        def do_OPTIONS(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self._cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):  # noqa: N802
            params, method = xmlrpc.client.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((method, params))
            result = ({"samp.private-key": "key-1", "samp.hub-id": "hub", "samp.self-id": "c1"}
                      if method == "samp.webhub.register" else "")
            body = xmlrpc.client.dumps((result,), methodresponse=True).encode()
            self.send_response(200)
            self._cors()
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        hub = ThreadingHTTPServer(("127.0.0.1", 21012), Hub)
    except OSError:
        pytest.fail("port 21012 (SAMP web profile) is taken: stop the SAMP hub running here")
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        browser.get(live_url + "/?q=" + "cone('M82', '5arcmin')")
        browser.find_element(By.ID, "samp-send").click()
        wait(browser, lambda d: "sent to the SAMP hub" in d.find_element(By.ID, "samp-status").text, 30)
    finally:
        hub.shutdown()
        hub.server_close()
    methods = [m for m, _ in calls]
    assert methods == ["samp.webhub.register", "samp.webhub.declareMetadata", "samp.webhub.notifyAll",
                       "samp.webhub.unregister"]
    message = calls[2][1][1]
    assert message["samp.mtype"] == "table.load.votable"
    url = message["samp.params"]["url"]
    assert url.startswith(live_url + "/export.vot?")
    import urllib.request

    from astropy.io.votable import parse_single_table

    with urllib.request.urlopen(url, timeout=30) as r:
        assert len(parse_single_table(io.BytesIO(r.read())).array) > 0
    assert_clean(browser)
