"""A pulsar end to end in the server: photons pulsed at the solar-system
barycentre, moved to the spacecraft with the orbit and DE421, written as a
pipeline pn event list plus a PPS orbit file, loaded with `xmmdb load events`'s
loader; xmm_periodogram must find the period only after barycentring."""

import io

import numpy as np
import psycopg
import pytest
from astropy.io import fits

from xmmdb.timing import barycentre as bary
from xmmdb_loader.simulate.synthetic import event_list_hdul, orbit_hdul, pulsed_times, spacecraft_times, xmm_orbit

SRCID = 990000002
RA, DEC = 300.25, -40.10  # away from the sample fields
OBS = "0990000001"
T0, SPAN = 8.5e8, 4.0e4
FREQ = 1 / 1.2


@pytest.fixture(scope="module")
def pulsar(dsn, tmp_path_factory):
    from xmmdb_loader.events import load_events

    rng = np.random.default_rng(12)
    orbit_t = np.arange(T0 - 1800, T0 + SPAN + 1800, 60.0)
    pos, vel = xmm_orbit(orbit_t, t0=T0 + 1e4)
    orbit = bary.Orbit(orbit_t, pos, vel)
    t_b = pulsed_times(rng, T0 + 300, T0 + SPAN - 300, 0.2, FREQ, 0.3)
    t_src = spacecraft_times(t_b, RA, DEC, orbit)
    n_bkg = 40000
    r, phi = 150 * np.sqrt(rng.uniform(0, 1, n_bkg)), rng.uniform(0, 2 * np.pi, n_bkg)
    time = np.concatenate([t_src, rng.uniform(T0, T0 + SPAN, n_bkg)])
    ra = np.concatenate([RA + rng.normal(0, 4, len(t_src)) / 3600 / np.cos(np.radians(DEC)),
                         RA + r * np.cos(phi) / 3600 / np.cos(np.radians(DEC))])
    dec = np.concatenate([DEC + rng.normal(0, 4, len(t_src)) / 3600, DEC + r * np.sin(phi) / 3600])
    folder = tmp_path_factory.mktemp("pulsar")
    events = folder / f"P{OBS}PNS003PIEVLI0000.FTZ"
    event_list_hdul(OBS, "EPN", "S003", time, ra, dec, rng.integers(300, 10000, len(time)),
                    [(T0, T0 + 1.8e4), (T0 + 1.9e4, T0 + SPAN)], RA + 0.05, DEC - 0.05).writeto(events)
    orbit_file = folder / f"P{OBS}OBX000ORBTSR0000.FTZ"
    orbit_hdul(orbit_t, pos, vel, obs_id=OBS).writeto(orbit_file)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")   # a transaction, so the loads are savepoints of it and all is rolled back
        load_events(conn, [events, orbit_file], progress=False)
        conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                     "VALUES (%s, 'TEST PULSAR', %s, %s, 1e-13, 1)", (SRCID, RA, DEC))
        yield conn, t_b
        conn.rollback()


def test_periodogram_finds_the_pulsar_after_barycentring(pulsar):
    conn, _ = pulsar
    q = ("SELECT best_frequency, fap, n_photons, statistic, barycentred FROM xmm_periodogram(%s, 0.8, 0.87, %s)")
    f, fap, n, stat, bc = conn.execute(q, (SRCID, '{}')).fetchone()
    df = 1 / (5 * SPAN)
    assert abs(f - FREQ) < 2 * df and fap < 1e-10 and bc and stat == "Z2_2"
    # without barycentring the Doppler shift of XMM's orbit smears and moves the peak
    f_raw, fap_raw, *_ = conn.execute(q, (SRCID, '{"barycentre": false}')).fetchone()
    assert abs(f_raw - FREQ) > 2 * df or fap_raw > 1e3 * fap
    fh, faph = conn.execute("SELECT best_frequency, fap FROM xmm_periodogram(%s, 0.825, 0.84, "
                            "'{\"method\": \"h\"}')", (SRCID,)).fetchone()
    assert abs(fh - FREQ) < 2 * df and faph < 1e-6


def test_barycentred_events_recover_the_emission_times(pulsar):
    conn, t_b = pulsar
    (data,) = conn.execute("SELECT xmm_extract_events(%s, 3, '{\"barycentre\": true}')", (SRCID,)).fetchone()
    with fits.open(io.BytesIO(data)) as hdul:
        h = hdul["EVENTS"].header
        assert h["BARY_POS"] == "ORBIT" and h["TIMESYS"] == "TDB"
        t = hdul["EVENTS"].data["TIME"]
    # every extracted photon within 3" is (almost surely) a source photon: its barycentred
    # time is one of the simulated emission times, to the 1 us of the photon store
    i = np.clip(np.searchsorted(t_b, t), 1, len(t_b) - 1)
    nearest = np.minimum(np.abs(t_b[i] - t), np.abs(t_b[i - 1] - t))
    assert np.mean(nearest < 3e-6) > 0.95
