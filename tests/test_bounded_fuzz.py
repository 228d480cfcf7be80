"""Every public function is bounded: driven by a reader with extreme arguments
(huge, negative, NaN and infinite numbers, all-sky radii, enormous strings,
options at the ends of their ranges, arrays of tens of millions of values)
under a 2 s statement timeout, each call answers, with a result or an error
that says what was wrong, within 3 s, and no call brings a backend down.

The cases are SQL expressions, so large arguments are built in the server.
`XMMDB_FUZZ_EXAMPLES` (make fuzz) adds random combinations of the values."""

import itertools
import json
import os
import random
import time
from pathlib import Path

import psycopg
import pytest

from xmmdb_loader.roles import login_dsn

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
# Sample sky: a source with photons (the planted pulsar), a source with a stored spectrum.
PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]["srcid"]
SPECTRUM = "(SELECT min(d.srcid) FROM xmm.spectrum s JOIN xmm.detection d USING (detid))"
NUMBERS = ["0", "-1", "1e308", "-1e308", "'NaN'", "'Infinity'", "'-Infinity'", "1e-300"]
TEXTS = ["''", "repeat('x', 100000)", "repeat('(', 5000)", "repeat('1 ', 50000)", "E'\\\\x01'"]
OPTIONS = [
    "'{}'",
    """'{"harmonics": 1000000000, "oversample": 1e9, "method": "h"}'""",
    """'{"bkg_inner": 1e6, "bkg_outer": 1e7}'""",
    """'{"bkg_outer": 1200}'""",
    """'{"emin": -1e9, "emax": 1e9, "tmin": -1e12, "tmax": 1e12}'""",
    """'{"group": 1000000000, "emin": 1e-9, "emax": 1e9, "niter": 1000000000}'""",
    """'{"size": 1000000000, "pixel": 1e-9, "bin": 1e-9}'""",
    """'{"barycentre": true, "radius": 1e9, "obs_id": "0000000000"}'""",
    "(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100000) g)",
]
ANY_SPECTRUM = "(SELECT min(spectrum_id) FROM xmm.spectrum WHERE kind = 'source')"
HUGE_ARRAY = "(SELECT array_agg(g::float8) FROM generate_series(1, 3000000) g)"   # over the bound, quick to build

CASES = {
    "xmm_to_sql": [f"xmm_to_sql({t}, 'source')" for t in TEXTS],
    "xmm_search_centre": [f"(SELECT count(*) FROM xmm_search_centre({t}))" for t in TEXTS],
    "xmm_search": [f"(SELECT count(*) FROM xmm_search({t}))" for t in TEXTS]
    + ["(SELECT count(*) FROM xmm_search('cone(''0 0'', ''180deg'')'))",
       "(SELECT count(*) FROM xmm_search('sc_det_ml > -1e308'))"],
    "xmm_search_detections": ["(SELECT count(*) FROM xmm_search_detections('cone(''10 41'', ''180deg'')'))"],
    "xmm_resolve": [f"(SELECT count(*) FROM xmm_resolve({t}))" for t in TEXTS],
    "xmm_adql": [f"xmm_adql({t})" for t in TEXTS]
    + ["xmm_adql('SELECT * FROM xmm.photon')"],
    "xmm_adql_run": ["(SELECT count(*) FROM xmm_adql_run('SELECT * FROM xmm.photon'))",
                     "(SELECT count(*) FROM xmm_adql_run('SELECT * FROM xmm.photon WHERE CONTAINS(POINT(''ICRS'', ra, "
                     "dec), CIRCLE(''ICRS'', 10, 41, 180)) = 1'))",
                     "(SELECT count(*) FROM xmm_adql_run('SELECT a.srcid FROM xmm.source a, xmm.source b, xmm.source c'))"],
    "xmm_fit_detection": [f"(xmm_fit_detection((SELECT detid FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1), "
                          f"(SELECT instrument FROM xmm.spectrum WHERE detid IS NOT NULL LIMIT 1), {m}, {o})).stat"
                          for m, o in itertools.product(["'phabs_pl'", "repeat('phabs*', 20000) || 'powerlaw'",
                                                         "repeat('(', 5000)"], OPTIONS[:1] + OPTIONS[5:6])],
    "xmm_fit": [f"(xmm_fit({s}, 'phabs_pl', {o})).stat" for s in ("-1", "9223372036854775807", str(SPECTRUM))
                for o in (OPTIONS[0], OPTIONS[5], OPTIONS[8])],
    "xmm_fit_detection_plot": ["length(xmm_fit_detection_plot(-1, 'EPN', 'phabs_pl', '{}'))"],
    "xmm_fit_spectrum": [f"(xmm_fit_spectrum({s}, {m}, {o})).stat"
                         for s, m, o in [("-1", "'phabs_pl'", OPTIONS[0]), (ANY_SPECTRUM, "'phabs_pl'", OPTIONS[5]),
                                         (ANY_SPECTRUM, "repeat('phabs*', 20000) || 'powerlaw'", OPTIONS[0]),
                                         (ANY_SPECTRUM, "'phabs_pl'", OPTIONS[8])]],
    "xmm_fit_spectrum_plot": [f"length(xmm_fit_spectrum_plot({ANY_SPECTRUM}, repeat('x', 100000), '{{}}'))",
                              "length(xmm_fit_spectrum_plot(9223372036854775807, 'phabs_pl', '{}'))"],
    "xmm_fit_plot": [f"length(xmm_fit_plot({SPECTRUM}, repeat('x', 100000), '{{}}'))",
                     f"length(xmm_fit_plot({SPECTRUM}, 'phabs_pl', {OPTIONS[5]}))"],
    "xmm_coverage": [f"(SELECT count(*) FROM xmm_coverage({a}, {b}))"
                     for a, b in [("10.6847", "41.2690"), ("'NaN'", "0"), ("'Infinity'", "'-Infinity'"),
                                  ("1e308", "-1e308"), ("-1e-300", "90")]],
    "xmm_variability": [f"(SELECT count(*) FROM xmm_variability({s}, {o}))"
                        for s, o in [(PULSAR, "'{}'"), (PULSAR, OPTIONS[2]), (PULSAR, OPTIONS[4]), ("-1", "'{}'"),
                                     (PULSAR, """'{"p0": 1e-300, "radius": 1e9}'"""), (PULSAR, OPTIONS[8])]],
    "xmm_pulsation_search": [f"(SELECT count(*) FROM xmm_pulsation_search({s}, {o}))"
                             for s, o in [(PULSAR, "'{}'"), (PULSAR, """'{"fmin": 1e-9, "fmax": 1000}'"""),
                                          (PULSAR, """'{"max_work": 1e308, "oversample": 1e9}'"""),
                                          (PULSAR, """'{"min_photons": 1e308}'"""), ("-1", "'{}'"),
                                          (PULSAR, OPTIONS[8])]],
    "xmm_pulsation_survey": [f"(SELECT count(*) FROM xmm_pulsation_survey({s}, {o}))"
                             for s, o in [("(SELECT array_agg(g) FROM generate_series(1, 2000000) g)", "'{}'"),
                                          (f"array_fill({PULSAR}::bigint, ARRAY[100000])",
                                           """'{"fdot_max": 1e-6, "max_work": 2e10, "threads": 4}'"""),
                                          (f"ARRAY[{PULSAR}, -1, NULL]", """'{"progress": 1e-300}'"""),
                                          ("'{}'::bigint[]", OPTIONS[8])]],
    "xmm_variability_at": [f"(SELECT count(*) FROM xmm_variability_at({a}, {b}, {o}))"
                           for a, b, o in [("10.6606", "41.3137", "'{}'"), ("'NaN'", "0", "'{}'"),
                                           ("1e308", "1e308", "'{}'"), ("10.6606", "41.3137", OPTIONS[4]),
                                           ("-1e-300", "90", """'{"radius": 1e9}'"""),
                                           ("10.6606", "41.3137", OPTIONS[8])]],
    "xmm_extract_events_at": [f"length(xmm_extract_events_at({a}, {b}, {r}, {o}))"
                              for a, b, r, o in [("10.6606", "41.3137", "1e9", "'{}'"), ("'NaN'", "0", "30", "'{}'"),
                                                 ("1e308", "1e308", "30", "'{}'"),
                                                 ("10.6606", "41.3137", "648000", """'{"barycentre": true}'"""),
                                                 ("10.6606", "41.3137", "30", OPTIONS[7])]],
    "xmm_lightcurve_at": [f"(SELECT count(*) FROM xmm_lightcurve_at({a}, {b}, {t}, {o}))"
                          for a, b, t, o in [("10.6606", "41.3137", "1e-9", "'{}'"), ("'NaN'", "0", "100", "'{}'"),
                                             ("10.6606", "41.3137", "100", """'{"radius": 1e9, "bkg_outer": 1e9}'"""),
                                             ("10.6606", "41.3137", "100", OPTIONS[8])]],
    "xmm_periodogram_at": [f"(SELECT count(*) FROM xmm_periodogram_at({a}, {b}, {f0}, {f1}, {o}))"
                           for a, b, f0, f1, o in [("10.6606", "41.3137", "1e-9", "1e9", "'{}'"),
                                                   ("'NaN'", "0", "0.1", "1", "'{}'"),
                                                   ("10.6606", "41.3137", "0.1", "1",
                                                    """'{"harmonics": 1e9, "oversample": 1e9}'"""),
                                                   ("10.6606", "41.3137", "0.1", "1", OPTIONS[8])]],
    "xmm_spectrum_file": [f"length(xmm_spectrum_file({s}))" for s in ("-1", "9223372036854775807", ANY_SPECTRUM)],
    "xmm_response_file": [f"length(xmm_response_file({r}))" for r in
                          ("-1", "9223372036854775807", "(SELECT max(response_id) FROM xmm.response WHERE kind = 'rmf')")],
    "xmm_exposure": [f"(SELECT count(*) FROM xmm_exposure({a}, {b}))"
                     for a, b in [("10.6847", "41.2690"), ("'NaN'", "0"), ("'Infinity'", "'-Infinity'"),
                                  ("1e308", "-1e308"), ("-1e-300", "90")]],
    "xmm_upper_limit": [f"(SELECT count(*) FROM xmm_upper_limit({a}, {b}, {o}))"
                        for a, b, o in [("10.6847", "41.2690", """'{"bands": [1, 2, 3, 4, 5, 8, 9, 8, 8]}'"""),
                                        ("10.6847", "41.2690", """'{"radius": 120, "bkg_inner": 120, "bkg_outer": 600}'"""),
                                        ("10.6847", "41.2690", """'{"confidence": 0.999999999999, "gamma": -3, "nh": 1e25}'"""),
                                        ("10.6847", "41.2690", """'{"bands": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                         1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}'"""),
                                        ("'NaN'", "0", "'{}'"), ("1e308", "1e308", "'{}'"), ("-1e-300", "90", "'{}'"),
                                        ("10.6847", "41.2690", OPTIONS[8])]],
    "xmm_long_term_lightcurve": [f"(SELECT count(*) FROM xmm_long_term_lightcurve({s}, {o}))"
                                 for s, o in [(PULSAR, "'{}'"), ("-1", "'{}'"), ("9223372036854775807", "'{}'"),
                                              (PULSAR, """'{"bands": [1, 2, 3, 4, 5, 8, 9], "bkg_outer": 600}'"""),
                                              (PULSAR, OPTIONS[8])]],
    "xmm_long_term_lightcurve_at": [f"(SELECT count(*) FROM xmm_long_term_lightcurve_at({a}, {b}, {o}))"
                                    for a, b, o in [("10.6847", "41.2690", "'{}'"), ("'NaN'", "0", "'{}'"),
                                                    ("1e308", "1e308", "'{}'"),
                                                    ("10.6847", "41.2690", """'{"match": 60, "bkg_outer": 600}'""")]],
    "xmm_photons": [f"(SELECT count(*) FROM xmm_photons({a}, {b}, {r}))"
                    for a, b, r in [("10.68", "41.27", "648000"), ("10.68", "41.27", "1e308"), ("'NaN'", "0", "30"),
                                    ("0", "0", "'Infinity'"), ("10.68", "41.27", "-1"), ("1e308", "1e308", "1e308")]]
    + ["(SELECT count(*) FROM xmm_photons(10.68, 41.27, 60, -1e308, 1e308, -1e308, 1e308))",
       "(SELECT count(*) FROM xmm_photons(10.68, 41.27, 5400, 0, 1e9, NULL, NULL,"
       " '{\"all_events\": true, \"flare_filter\": 1e-3, \"pattern\": [0, 31]}'))",
       "(SELECT count(*) FROM xmm_photons(10.68, 41.27, 60, 0, 1e9, NULL, NULL, '{\"pattern\": [0, 1e308]}'))",
       f"(SELECT count(*) FROM xmm_photons(10.68, 41.27, 60, 0, 1e9, NULL, NULL, {OPTIONS[8]}))"],
    "xmm_photon_arrays": [f"(SELECT sum(n) FROM xmm_photon_arrays({a}, {b}, {r}))"
                          for a, b, r in [("10.68", "41.27", "648000"), ("'NaN'", "0", "30"), ("0", "0", "'Infinity'"),
                                          ("10.68", "41.27", "-1"), ("1e308", "1e308", "1e308")]]
    + ["(SELECT sum(n) FROM xmm_photon_arrays(10.68, 41.27, 5400, 0, 1e9, NULL, NULL,"
       " '{\"all_events\": true, \"flare_filter\": 1e-3}'))",
       f"(SELECT sum(n) FROM xmm_photon_arrays(10.68, 41.27, 60, 0, 1e9, NULL, NULL, {OPTIONS[8]}))"],
    "xmm_hips_build": ["xmm_hips_build('{\"all\": true, \"max_tiles\": 1e9}')::text",   # readers: refused
                       f"xmm_hips_build({OPTIONS[8]})::text"],
    "xmm_hips_file": [f"length(xmm_hips_file({n}, {p}))"
                      for n, p in [("'counts'", "repeat('x', 100000)"), ("repeat('x', 100000)", "'properties'"),
                                   ("'counts'", "'Norder29/Dir0/Npix0.png'"), ("'colour'", "'Norder99/Allsky.png'"),
                                   ("'counts'", "'Norder7/Dir999999999990000/Npix999999999999999.fits'"),
                                   ("NULL", "NULL"), ("'counts'", "E'Norder3/Allsky.png\\n'")]],
    "xmm_image": [f"length(xmm_image({a}, {b}, {s}, {p}, {o}))"
                  for a, b, s, p, o in [("10.68", "41.27", "1e6", "1e-6", "'{}'"), ("10.68", "41.27", "180", "0", "'{}'"),
                                        ("'NaN'", "0", "10", "4", "'{}'"), ("10.68", "41.27", "10", "4", OPTIONS[6]),
                                        ("10.68", "41.27", "60", "1e-3", "'{}'")]],
    "xmm_barycentre": [f"cardinality(xmm_barycentre({t}, 10.68, 41.27, '0112570101'))"
                       for t in (HUGE_ARRAY, "ARRAY['NaN'::float8, 'Infinity']", "ARRAY[1e308, -1e308]")],
    "xmm_extract_events": [f"length(xmm_extract_events({s}, {r}, {o}))"
                           for s, r, o in [(PULSAR, "1e9", "'{}'"), (PULSAR, "'NaN'", "'{}'"), (PULSAR, "30", OPTIONS[7]),
                                           (PULSAR, "648000", """'{"barycentre": true}'"""), ("-1", "30", "'{}'")]],
    "xmm_lightcurve": [f"(SELECT count(*) FROM xmm_lightcurve({s}, {b}, {o}))"
                       for s, b, o in [(PULSAR, "1e-9", "'{}'"), (PULSAR, "1e308", "'{}'"), (PULSAR, "100", OPTIONS[2]),
                                       (PULSAR, "100", OPTIONS[3]), (PULSAR, "'NaN'", "'{}'"), (PULSAR, "100", OPTIONS[8])]],
    "xmm_lightcurve_plot": [f"length(xmm_lightcurve_plot({PULSAR}, 1e-6, '{{}}'))",
                            f"length(xmm_lightcurve_plot({PULSAR}, 100, {OPTIONS[3]}))"],
    "xmm_periodogram": [f"(SELECT count(*) FROM xmm_periodogram({PULSAR}, {a}, {b}, {o}))"
                        for a, b, o in [("1e-9", "1e9", "'{}'"), ("0.5", "1.0", OPTIONS[1]), ("'NaN'", "1", "'{}'"),
                                        ("0.001", "100", """'{"harmonics": 20}'"""), ("-1", "-2", "'{}'"),
                                        ("0.5", "1.0", """'{"oversample": 1e9}'"""),
                                        ("1e-9", "1e3", """'{"fdot_max": 1e-6, "threads": 4, "combine": "coherent"}'""")]],
}


@pytest.fixture(scope="module")
def reader(dsn):
    with psycopg.connect(login_dsn(dsn, "xmm_user"), autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM xmm_resolve('M 82')")      # the boot is not the call
        yield conn


def call(conn, dsn, expression):
    """(seconds, error or None) of one call under a 2 s statement timeout."""
    t0 = time.monotonic()
    error = None
    try:
        conn.execute("SET statement_timeout = '2s'")
        conn.execute(f"SELECT {expression}").fetchall()
    except psycopg.Error as exc:
        if conn.broken:                              # the backend is gone: a crash, not an answer
            pytest.fail(f"{expression[:120]}: the server closed the connection ({exc})")
        error = exc
        assert (exc.diag.message_primary or "").strip(), f"{expression[:120]}: an error without a message"
        assert exc.diag.sqlstate not in ("38000", "XX000"), f"{expression[:120]}: a fault, not a message: {exc}"
    return time.monotonic() - t0, error


def test_every_public_function_has_cases(reader):
    public = {r[0] for r in reader.execute(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'xmm'::regnamespace AND p.proname LIKE 'xmm\\_%'"
        " AND has_function_privilege(p.oid, 'EXECUTE')")}
    assert public <= set(CASES), f"functions without extreme-argument cases: {sorted(public - set(CASES))}"


@pytest.mark.parametrize("function", sorted(CASES))
def test_extreme_arguments_are_answered_in_time(reader, dsn, function):
    slow = []
    for expression in CASES[function]:
        seconds, error = call(reader, dsn, expression)
        if seconds > 3.0:
            slow.append((round(seconds, 1), expression[:160], str(error)[:120] if error else "answered"))
    assert slow == []


def test_random_combinations(reader, dsn):
    """make fuzz: random pairs of the extreme values for the numeric functions."""
    n = int(os.environ.get("XMMDB_FUZZ_EXAMPLES", "0")) // 100
    rng = random.Random(7)
    for _ in range(n):
        a, b, c = (rng.choice(NUMBERS) for _ in range(3))
        for expression in (f"(SELECT count(*) FROM xmm_photons({a}, {b}, {c}))",
                           f"(SELECT count(*) FROM xmm_lightcurve({PULSAR}, {a}, {rng.choice(OPTIONS)}))",
                           f"(SELECT count(*) FROM xmm_periodogram({PULSAR}, {a}, {b}, {rng.choice(OPTIONS)}))"):
            seconds, _ = call(reader, dsn, expression)
            assert seconds < 3.0, expression
