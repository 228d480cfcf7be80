"""Every public function speaks to a user's mistake in one way: the message as written
(no "xmmdb:" or Python type before it), with a hint where there is something to do, a
SQLSTATE that is not a fault's (38000, XX000), and no Python traceback in the context. A
public function without a case here fails the first test."""

import json

import psycopg
import pytest

from conftest import SAMPLE

PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]["srcid"]
OFF_SKY = "10, 95"
CASES = {
    "xmm_adql": "SELECT xmm_adql('SELEC srcid FROM xmm.source')",
    "xmm_adql_run": "SELECT count(*) FROM xmm_adql_run('SELECT nope FROM xmm.source')",
    "xmm_barycentre": f"SELECT xmm_barycentre(ARRAY[1.0], {OFF_SKY}, '0112570101')",
    "xmm_coverage": f"SELECT count(*) FROM xmm_coverage({OFF_SKY})",
    "xmm_exposure": f"SELECT count(*) FROM xmm_exposure({OFF_SKY})",
    "xmm_extract_events": f"SELECT xmm_extract_events({PULSAR}, 1e9)",
    "xmm_extract_events_at": f"SELECT xmm_extract_events_at({OFF_SKY}, 20)",
    "xmm_fit": "SELECT * FROM xmm_fit(-1, 'phabs_pl')",
    "xmm_fit_detection": "SELECT * FROM xmm_fit_detection(-1, 'EPN', 'phabs_pl', '{}')",
    "xmm_fit_detection_plot": "SELECT xmm_fit_detection_plot(-1, 'EPN', 'phabs_pl', '{}')",
    "xmm_fit_plot": "SELECT xmm_fit_plot(-1, 'phabs_pl')",
    "xmm_fit_spectrum": "SELECT * FROM xmm_fit_spectrum(-1, 'phabs_pl')",
    "xmm_fit_spectrum_plot": "SELECT xmm_fit_spectrum_plot(-1, 'phabs_pl')",
    "xmm_hips_build": "SELECT xmm_hips_build('{\"max_tiles\": 0}')",
    "xmm_hips_file": "SELECT xmm_hips_file('counts', 'Norder7/Npix1.png')",
    "xmm_image": "SELECT xmm_image(10.68, 41.27, 4, 2, '{\"emin\": \"soft\"}')",
    "xmm_lightcurve": f"SELECT count(*) FROM xmm_lightcurve({PULSAR}, -5)",
    "xmm_lightcurve_at": "SELECT count(*) FROM xmm_lightcurve_at(10.6606, 41.3137, 100, '{\"radius\": 1e9}')",
    "xmm_lightcurve_plot": f"SELECT xmm_lightcurve_plot({PULSAR}, 100, '{{\"bins\": 3}}')",
    "xmm_long_term_lightcurve": "SELECT count(*) FROM xmm_long_term_lightcurve(-1)",
    "xmm_long_term_lightcurve_at": f"SELECT count(*) FROM xmm_long_term_lightcurve_at({OFF_SKY})",
    "xmm_periodogram": f"SELECT count(*) FROM xmm_periodogram({PULSAR}, 1.0, 0.5)",
    "xmm_periodogram_at": f"SELECT count(*) FROM xmm_periodogram_at({OFF_SKY}, 0.5, 1.0)",
    "xmm_photons": f"SELECT count(*) FROM xmm_photons({OFF_SKY}, 30)",
    "xmm_photon_arrays": "SELECT count(*) FROM xmm_photon_arrays(10.68, 41.27, 30, options => '{\"flag\": \"some\"}')",
    "xmm_pulsation_search": f"SELECT count(*) FROM xmm_pulsation_search({PULSAR}, '{{\"harmonics\": 0}}')",
    "xmm_pulsation_survey": "SELECT count(*) FROM xmm_pulsation_survey(NULL)",
    "xmm_resolve": "SELECT count(*) FROM xmm_resolve('12:00:00 +91:00:00')",
    "xmm_response_file": "SELECT xmm_response_file(-1)",
    "xmm_search": "SELECT count(*) FROM xmm_search('sc_ep_8_flux >')",
    "xmm_search_centre": "SELECT count(*) FROM xmm_search_centre('cone(''Atlantis'', ''1deg'')')",
    "xmm_search_detections": "SELECT count(*) FROM xmm_search_detections('nope > 1')",
    "xmm_spectrum_file": "SELECT xmm_spectrum_file(-1)",
    "xmm_to_sql": "SELECT xmm_to_sql('nope = 1')",
    "xmm_upper_limit": f"SELECT count(*) FROM xmm_upper_limit({OFF_SKY})",
    "xmm_variability": f"SELECT count(*) FROM xmm_variability({PULSAR}, '{{\"p0\": 2}}')",
    "xmm_variability_at": f"SELECT count(*) FROM xmm_variability_at({OFF_SKY})",
}


def test_every_public_function_has_a_case(db):
    public = {r[0] for r in db.execute(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'xmm'::regnamespace AND p.proname LIKE 'xmm\\_%'")}
    assert public == set(CASES), f"without a case: {sorted(public - set(CASES))}; gone: {sorted(set(CASES) - public)}"


@pytest.mark.parametrize("function", sorted(CASES))
def test_a_mistake_reads_as_written(db, function):
    with pytest.raises(psycopg.Error) as caught:
        db.execute(CASES[function]).fetchall()
    diag = caught.value.diag
    message = diag.message_primary or ""
    assert message and not message.startswith(("xmmdb:", "plpy.")), message
    assert ": " not in message.split(" ", 1)[0], f"a type before the message: {message}"
    assert diag.sqlstate not in ("38000", "XX000"), (diag.sqlstate, message)
    assert "Traceback" not in (diag.context or "") and "Traceback" not in (diag.message_detail or ""), diag.context
