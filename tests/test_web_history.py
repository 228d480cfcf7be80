"""Long-term light curves in the web shim: /source/<srcid>/history.json and
/position/history.json against xmm_long_term_lightcurve[_at] itself, their errors,
the "any position" page; and in Chromium, the source page's panel drawn with
detections, upper limits and a calendar axis."""

from __future__ import annotations

import json
import re
from html import unescape

import psycopg
import pytest

from test_web import app, client, live_url, web_dsn  # noqa: F401 - shared fixtures
from test_web_browser import assert_clean, shot, wait  # noqa: F401

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from xmmdb_web import formats  # noqa: E402


def function_rows(dsn: str, query: str, params) -> tuple[list[str], list[list]]:
    """The SQL function's columns and rows as the JSON routes give them."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        return [d.name for d in cur.description], [[formats.jsonable(v) for v in r] for r in cur.fetchall()]


@pytest.fixture(scope="module")
def observed_source(web_dsn):
    """A sample source detected in some observations and not in another whose photons are loaded, so
    its curve has catalogue points and upper limits; one with unloaded epochs too when there is one.
    Only the few sources that some loaded field holds without a detection are measured."""
    with psycopg.connect(web_dsn) as conn:
        row = conn.execute("""
            WITH candidates AS (
              SELECT s.srcid, s.sc_ra, s.sc_dec, s.sc_ep_8_flux FROM xmm.source s
               WHERE s.n_detections > 0 AND EXISTS (
                     SELECT 1 FROM xmm.observation o
                      WHERE o.footprint @> spoint(radians(s.sc_ra), radians(s.sc_dec))
                        AND EXISTS (SELECT 1 FROM xmm.exposure e WHERE e.obs_id = o.obs_id)
                        AND NOT EXISTS (SELECT 1 FROM xmm.detection d WHERE d.srcid = s.srcid AND d.obs_id = o.obs_id)))
            SELECT c.srcid, c.sc_ra, c.sc_dec, k.* FROM candidates c CROSS JOIN LATERAL (
              SELECT count(*) FILTER (WHERE measured_from = 'catalogue' AND coalesce(flux, 0) > 0) AS detected,
                     count(*) FILTER (WHERE measured_from = 'photons' AND coalesce(flux_upper, 0) > 0) AS limits,
                     count(*) FILTER (WHERE NOT (measured_from = 'catalogue' AND coalesce(flux, 0) > 0
                                                 OR measured_from = 'photons' AND coalesce(flux_upper, 0) > 0))
                       AS without_flux,
                     count(*) FILTER (WHERE measured_from = 'not loaded') AS unloaded
                FROM xmm.xmm_long_term_lightcurve(c.srcid)) k
             WHERE k.detected > 0 AND k.limits > 0
             ORDER BY k.unloaded > 0 DESC, c.sc_ep_8_flux DESC NULLS LAST LIMIT 1""").fetchone()
    assert row, "no sample source with both a detection and an upper limit"
    return dict(zip(("srcid", "ra", "dec", "detected", "limits", "without_flux", "unloaded"), row))


# -- JSON -------------------------------------------------------------------------------------

def test_source_history_json_is_the_functions_rows(client, web_dsn, observed_source):
    srcid = observed_source["srcid"]
    d = client.get(f"/source/{srcid}/history.json").get_json()
    columns, rows = function_rows(web_dsn, "SELECT * FROM xmm.xmm_long_term_lightcurve(%s)", (srcid,))
    assert d == {"columns": columns, "rows": rows}
    kinds = {r[columns.index("measured_from")] for r in rows}
    assert {"catalogue", "photons"} <= kinds
    # options pass through: two bands, 99 % limits
    options = {"bands": [8, 9], "confidence": 0.99}
    d = client.get(f"/source/{srcid}/history.json", query_string={"options": json.dumps(options)}).get_json()
    assert d["rows"] == function_rows(web_dsn, "SELECT * FROM xmm.xmm_long_term_lightcurve(%s, %s::jsonb)",
                                      (srcid, json.dumps(options)))[1]
    assert {r[d["columns"].index("band")] for r in d["rows"]} == {8, 9}
    assert {r[d["columns"].index("confidence")] for r in d["rows"]} - {None} == {0.99}


@pytest.mark.parametrize("where", ["source", "empty sky"])
def test_position_history_json_is_the_functions_rows(client, web_dsn, observed_source, where):
    ra, dec = (observed_source["ra"], observed_source["dec"]) if where == "source" else (10.6, 41.2)
    d = client.get("/position/history.json", query_string={"ra": ra, "dec": dec}).get_json()
    columns, rows = function_rows(web_dsn, "SELECT * FROM xmm.xmm_long_term_lightcurve_at(%s, %s)", (ra, dec))
    assert rows and d == {"columns": columns, "rows": rows}
    if where == "source":      # the detections within 10" are the source's: its own curve's epochs and fluxes
        own = client.get(f"/source/{observed_source['srcid']}/history.json").get_json()
        assert [r[:3] for r in d["rows"]] == [r[:3] for r in own["rows"]]


def test_errors_of_the_function_reach_the_user(client, observed_source):
    rv = client.get("/position/history.json", query_string={"ra": 10.6, "dec": 95})
    assert rv.status_code == 400
    assert rv.get_json()["error"] == "xmm_long_term_lightcurve_at: dec 95 is not between -90 and 90 degrees"
    rv = client.get("/position/history.json", query_string={"ra": "ten", "dec": 41.2})   # no number: no position
    assert rv.status_code == 400 and "finite numbers" in rv.get_json()["error"]
    rv = client.get("/source/999999999/history.json")
    assert rv.status_code == 404 and "999999999" in rv.get_json()["error"]
    rv = client.get(f"/source/{observed_source['srcid']}/history.json", query_string={"options": '{"nope": 1}'})
    body = rv.get_json()
    assert rv.status_code == 400 and "unknown option 'nope'" in body["error"] and "confidence" in body["hint"]
    assert client.get("/position/history.json", query_string={"ra": 10.6, "dec": 41.2, "options": "[8]"}).status_code == 400


# -- the "any position" page --------------------------------------------------------------------

def test_position_page_shows_the_panel_and_the_rows(client, web_dsn, observed_source):
    home = client.get("/").get_data(as_text=True)
    assert re.search(r'<nav>.*href="/position">Any position</a>.*</nav>', home, re.S)
    empty = client.get("/position").get_data(as_text=True)
    assert 'id="position-form"' in empty and 'id="history-plot"' not in empty and 'id="position-error"' not in empty
    ra, dec = observed_source["ra"], observed_source["dec"]
    rv = client.get("/position", query_string={"ra": ra, "dec": dec, "band": 8, "confidence": 0.9})
    html = rv.get_data(as_text=True)
    assert rv.status_code == 200 and 'id="history-plot"' in html and 'id="position-rows"' in html
    columns, rows = function_rows(web_dsn, "SELECT * FROM xmm.xmm_long_term_lightcurve_at(%s, %s)", (ra, dec))
    table = html.split('id="position-rows"')[1].split("</table>")[0]
    assert re.findall(r'<td><a href="/observation/(\w+)">', table) == [r[0] for r in rows]
    assert table.count("not loaded") == sum(r[-1] == "not loaded" for r in rows)
    assert "erg cm⁻² s⁻¹" in table                                        # the unit as the pages write it
    # the panel asks for what the table shows
    url = unescape(re.search(r'id="history-plot" data-url="([^"]+)"', html).group(1))
    assert client.get(url).get_json()["rows"] == rows
    # the form keeps what was typed; the function's message is shown under it
    bad = client.get("/position", query_string={"ra": 10.6, "dec": 95}).get_data(as_text=True)
    assert "dec 95 is not between -90 and 90 degrees" in bad and 'value="95"' in bad
    assert 'id="history-plot"' not in bad
    bad = client.get("/position", query_string={"ra": 10.6, "dec": 41.2, "confidence": "90"}).get_data(as_text=True)
    assert 'id="position-error"' in bad and "confidence" in bad


def test_source_page_has_the_panel(client, observed_source):
    html = client.get(f"/source/{observed_source['srcid']}").get_data(as_text=True)
    assert "Long-term light curve" in html and 'id="history-form"' in html
    assert f'data-url="/source/{observed_source["srcid"]}/history.json"' in html


# -- in the browser -----------------------------------------------------------------------------

def test_the_panel_draws_detections_limits_and_a_date_axis(browser, live_url, observed_source):
    srcid = observed_source["srcid"]
    browser.get(f"{live_url}/source/{srcid}")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#history-plot svg, #history-plot .error"), 120)
    assert not browser.find_elements(By.CSS_SELECTOR, "#history-plot .error")
    points = browser.find_elements(By.CSS_SELECTOR, "#history-plot circle.pt")
    arrows = browser.find_elements(By.CSS_SELECTOR, "#history-plot g.limit")
    hollow = browser.find_elements(By.CSS_SELECTOR, "#history-plot circle.unmeasured")
    assert (len(points), len(arrows), len(hollow)) == (observed_source["detected"], observed_source["limits"],
                                                       observed_source["without_flux"])
    years = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#history-plot text.date")]
    assert len(years) >= 2 and all(re.fullmatch(r"\d{4}(-\d\d){0,2}", y) for y in years), years
    fluxes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#history-plot .axis text:not(.date)")]
    assert fluxes and all(re.fullmatch(r"([\d.]+×)?10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+", f) for f in fluxes), fluxes   # a log axis
    caption = browser.find_element(By.ID, "history-caption").text
    assert "upper limit at 90 % confidence" in caption and "○ observed, photons not loaded" in caption
    # a limit's tooltip names its observation and value
    ActionChains(browser).move_to_element(arrows[0]).perform()
    tip = browser.find_element(By.CSS_SELECTOR, "#history-plot .tip")
    wait(browser, lambda d: tip.is_displayed() and "upper limit" in tip.text)
    assert re.search(r"obs \d{10}, \d{4}-\d\d-\d\d: < [\d.]+(×10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)? erg cm⁻² s⁻¹", tip.text), tip.text
    assert_clean(browser)
    browser.find_element(By.ID, "history").location_once_scrolled_into_view
    shot(browser, "history")
    # another band and confidence redraw it in place
    browser.find_element(By.CSS_SELECTOR, "#history-form option[value='9']").click()
    box = browser.find_element(By.CSS_SELECTOR, "#history-form input[name=confidence]")
    box.clear()
    box.send_keys("0.99")
    browser.find_element(By.ID, "history-go").click()
    wait(browser, lambda d: "99 % confidence" in d.find_element(By.ID, "history-caption").text, 120)
    assert "0.5–4.5 keV" in browser.find_element(By.CSS_SELECTOR, "#history-plot svg").text
    assert_clean(browser)


def test_the_position_page_in_the_browser(browser, live_url, observed_source):
    browser.get(live_url + "/")
    browser.find_element(By.LINK_TEXT, "Any position").click()
    browser.find_element(By.ID, "ra").send_keys(str(observed_source["ra"]))
    browser.find_element(By.ID, "dec").send_keys(str(observed_source["dec"]))
    browser.find_element(By.ID, "position-go").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#history-plot svg, #history-plot .error"), 120)
    assert browser.find_elements(By.CSS_SELECTOR, "#history-plot circle.pt")
    assert browser.find_elements(By.CSS_SELECTOR, "#position-rows tbody tr")
    assert_clean(browser)
    shot(browser, "position")
