"""The sample sky's planted timing signals (data/sample/truth/events.json,
written by loader/simulate/events.py): xmm_periodogram must find the 1.2 s
pulsar in M31, xmm_lightcurve must see the variable sources vary."""

import io
import json

import numpy as np
import psycopg
import pytest
from astropy.io import fits

from conftest import SAMPLE

TRUTH = SAMPLE / "truth" / "events.json"


@pytest.fixture(scope="module")
def truth():
    assert TRUTH.is_file(), "the sample sky has no event lists"
    return json.loads(TRUTH.read_text())


def test_periodogram_finds_the_sample_pulsar(db, truth):
    p = truth["pulsar"]
    f, period, power, fap, obs, stat, n = db.execute(
        "SELECT best_frequency, best_period, best_power, fap, obs_ids, statistic, n_photons "
        "FROM xmm_periodogram(%s, 0.5, 1.0)", (p["srcid"],)).fetchone()
    assert abs(f - p["frequency_hz"]) < 5e-5 and abs(period - p["period_s"]) < 1e-4
    assert fap < 1e-6 and set(p["observations"]) <= set(obs) and stat == "Z2_2"
    # one observation, H-test
    fh, faph = db.execute("SELECT best_frequency, fap FROM xmm_periodogram(%s, 0.8, 0.87, %s)",
                          (p["srcid"], json.dumps({"method": "h", "obs_id": p["observations"][0]}))).fetchone()
    assert abs(fh - p["frequency_hz"]) < 1e-4 and faph < 1e-2


def test_a_wide_search_reports_the_fundamental_not_a_subharmonic(db, truth):
    """The web form's range, 0.05-2 Hz: Z^2_2 is about as high at half the pulsar's frequency
    (its second harmonic is the pulsar's); the fundamental is reported, the relatives listed."""
    p = truth["pulsar"]
    f, fap, candidates = db.execute("SELECT best_frequency, fap, candidates FROM xmm_periodogram(%s, 0.05, 2.0)",
                                    (p["srcid"],)).fetchone()
    assert abs(f - p["frequency_hz"]) < 5e-5 and fap < 1e-6
    chosen = [c for c in candidates if c["fundamental"]]
    assert len(chosen) == 1 and abs(chosen[0]["frequency"] - f) < 1e-12
    assert "f" in {c["relation"] for c in candidates} <= {"f", "f/2", "f/3", "2f", "3f"}   # those within the band
    half = min(candidates, key=lambda c: abs(c["frequency"] - f / 2))
    assert abs(half["frequency"] - f / 2) < 1e-4 and half["first_harmonic_probability"] > 1e-4


def test_sample_pulsar_event_file_is_barycentred_with_the_orbit(db, truth):
    p = truth["pulsar"]
    (data,) = db.execute("SELECT xmm_extract_events(%s, NULL, '{\"barycentre\": true}')", (p["srcid"],)).fetchone()
    with fits.open(io.BytesIO(data)) as hdul:
        h = hdul["EVENTS"].header
        assert h["BARY_POS"] == "ORBIT" and h["PLEPHEM"] == "JPL-DE421" and h["SRCID"] == p["srcid"]
        t = hdul["EVENTS"].data["TIME"]
        obs = hdul["EVENTS"].data["OBS_ID"]
        pn = np.char.strip(hdul["EVENTS"].data["INSTRUME"].astype(str)) == "EPN"   # MOS's 2.6 s frames blur 1.2 s
    # folded at the true period, the barycentred pn photons show the 40 % pulse
    for o in p["observations"]:
        phase = np.mod(t[(obs == o) & pn] / p["period_s"], 1.0)
        z1 = 2 / len(phase) * (np.cos(2 * np.pi * phase).sum() ** 2 + np.sin(2 * np.pi * phase).sum() ** 2)
        assert z1 > 25, (o, z1)


def test_variable_sources_vary(db, truth):
    """Every planted variable with at least 200 photons is variable at 99.9 % in some
    binning (chi^2 of a constant); the faint ones are too faint to tell."""
    from scipy.stats import chi2

    tested = 0
    for v in truth["variables"]:
        (n,) = db.execute("SELECT count(*) FROM xmm_photons((SELECT sc_ra FROM source WHERE srcid = %(s)s), "
                          "(SELECT sc_dec FROM source WHERE srcid = %(s)s), 20)", {"s": v["srcid"]}).fetchone()
        if n < 200:
            continue
        tested += 1
        p_min = 1.0
        for bin_s in (100, 500):
            # every simulated event carries the planted variability: the selection is not what is tested here
            rows = db.execute("SELECT obs_id, rate, error FROM xmm_lightcurve(%s, %s, '{\"all_events\": true}')",
                              (v["srcid"], bin_s)).fetchall()
            for o in {r[0] for r in rows}:
                rate = np.array([r[1] for r in rows if r[0] == o])
                w = 1 / np.array([r[2] for r in rows if r[0] == o]) ** 2
                x2 = np.sum((rate - np.sum(w * rate) / np.sum(w)) ** 2 * w)
                p_min = min(p_min, chi2.sf(x2, len(rate) - 1))
        assert p_min < 1e-3, (v, n, p_min)
    assert tested >= 1


def test_a_blind_search_finds_the_pulsar_and_nothing_else(db, truth):
    """One statement over the sources around the pulsar: each searched up to its fastest
    camera's limit, faint ones skipped with the reason, the pulsar found at its period, and
    no other source below the search-wide threshold."""
    p = truth["pulsar"]
    rows = db.execute(
        "SELECT s.srcid, r.n_photons, r.fmax, r.best_frequency, r.fap, r.skipped, r.software "
        "FROM xmm_search(%s) s CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) r ORDER BY r.fap NULLS LAST",
        (f"cone('{p['ra']} {p['dec']}', '1arcmin')",)).fetchall()
    searched = [r for r in rows if r[5] is None]
    skipped = [r for r in rows if r[5] is not None]
    assert searched[0][0] == p["srcid"] and abs(searched[0][3] - p["frequency_hz"]) < 5e-5
    assert searched[0][4] * len(searched) < 1e-4 and searched[0][2] > 6          # pn frames: up to 6.8 Hz
    assert all(1 - (1 - r[4]) ** len(searched) > 1e-3 for r in searched[1:]), searched[1:4]
    assert all("min_photons" in r[5] or "no photons" in r[5] for r in skipped)
    assert len(searched) >= 2 and searched[0][6].startswith("xmmdb ")


def test_a_survey_searches_each_source_once_with_the_whole_search_s_chance(db, truth):
    """xmm_pulsation_survey over the same sources: each searched once (a repeat and a NULL in
    the array do not count), the rows of xmm_pulsation_search, search_fap = 1 - (1 - fap)^K
    over the K sources searched, progress said as NOTICEs while it runs."""
    p = truth["pulsar"]
    cone = f"cone('{p['ra']} {p['dec']}', '1arcmin')"
    single = {r[0]: r[1:] for r in db.execute(
        "SELECT s.srcid, r.fap, r.skipped FROM xmm_search(%s) s CROSS JOIN LATERAL xmm_pulsation_search(s.srcid) r",
        (cone,)).fetchall()}
    notices = []
    db.add_notice_handler(lambda d: notices.append(d.message_primary))
    rows = db.execute(
        "SELECT srcid, fap, search_fap, n_searched, skipped, best_fdot, settings FROM xmm_pulsation_survey("
        "ARRAY(SELECT srcid FROM xmm_search(%s)) || ARRAY[%s::bigint, NULL], '{\"progress\": 0.001}')",
        (cone, p["srcid"])).fetchall()
    searched = [r for r in rows if r[4] is None]
    assert len(rows) == len(single) + 1 and rows[-1][0] is None and rows[-1][4] == "srcid is NULL"
    assert {r[0]: (r[1], r[4]) for r in rows[:-1]} == single
    assert all(r[3] == len(searched) for r in rows)
    for srcid, fap, search_fap, *_ in searched:
        # 1 - (1 - fap)^n, written so that a tiny fap keeps its digits
        assert search_fap == pytest.approx(-np.expm1(len(searched) * np.log1p(-fap)), rel=1e-9, abs=1e-300)
    best = min(searched, key=lambda r: r[1])
    assert best[0] == p["srcid"] and best[2] < 1e-4 and best[5] == 0.0 and "progress" not in best[6]
    progress = [n for n in notices if "xmm_pulsation_survey:" in n]
    assert len(progress) == len(rows) - 1 and f"1 of {len(rows)} sources" in progress[0]


def test_a_survey_refuses_what_it_cannot_do(db):
    for args, words in ((("NULL", "'{}'"), "srcids must not be NULL"),
                        (("ARRAY[1]", "'{\"progress\": 0}'"), "progress"),
                        (("ARRAY[1]", "'{\"fdot_max\": 1}'"), "at most"),
                        (("ARRAY[1]", "'{\"threads\": 64}'"), "at most"),
                        (("ARRAY[1]", "'{\"combine\": \"sometimes\"}'"), "unknown combine")):
        with pytest.raises(psycopg.Error, match=words):
            db.execute(f"SELECT * FROM xmm_pulsation_survey({args[0]}::bigint[], {args[1]})").fetchall()
        db.rollback()


def test_the_chance_of_any_trial_neither_rounds_nor_underflows(db):
    got = db.execute("SELECT xmm.chance_of_any(0.9999, 96), xmm.chance_of_any(1e-20, 96), "
                     "xmm.chance_of_any(0.5, 2), xmm.chance_of_any(1, 5), xmm.chance_of_any(0.3, 1)").fetchone()
    assert got == (1.0, pytest.approx(9.6e-19, rel=1e-12), 0.75, 1.0, pytest.approx(0.3, rel=1e-12))
