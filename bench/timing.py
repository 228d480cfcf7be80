"""Timing: xmm_extract_events with barycentring for a 1e5-photon source (target
≤ 1 s), against barycentring the same event file with the PyPI `barycenter`
package; barycentring throughput of xmmdb.timing versus that package's native
engine (both with JPL DE421 and the same orbit).

The source lives in its own database (`xmmbench_timing`: one simulated pn
exposure of 1e5 source + 5e4 background photons over 100 ks, with its orbit
file), loaded through the photon loader once and reused while the files are
unchanged; the cost of an extraction is the handful of Q3C cells the cone
touches, not the size of the table around them.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import psycopg

from xmmdb.timing import barycentre as bary
from xmmdb.timing import ephemeris
from xmmdb_loader.simulate.synthetic import event_list_hdul, orbit_hdul, xmm_orbit
from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname

from .run import WORK, percentiles, timed

SRCID = 990000100
RA, DEC = 83.6331, 22.0145
OBS = "0990000100"
T0, SPAN = 8.5e8, 1.0e5
N_SOURCE, N_BACKGROUND = 100_000, 50_000


def _files() -> tuple[Path, Path]:
    folder = WORK / "timing"
    events = folder / f"P{OBS}PNS003PIEVLI0000.FTZ"
    orbit = folder / f"P{OBS}OBX000ORBTSR0000.FTZ"
    if events.exists() and orbit.exists():
        return events, orbit
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    orbit_t = np.arange(T0 - 1800, T0 + SPAN + 1800, 60.0)
    pos, vel = xmm_orbit(orbit_t, t0=T0 + 2e4)
    orbit_hdul(orbit_t, pos, vel, obs_id=OBS).writeto(orbit, overwrite=True)
    cosd = np.cos(np.radians(DEC))
    r, phi = 240 * np.sqrt(rng.uniform(0, 1, N_BACKGROUND)), rng.uniform(0, 2 * np.pi, N_BACKGROUND)
    time_ = rng.uniform(T0, T0 + SPAN, N_SOURCE + N_BACKGROUND)
    ra = np.concatenate([RA + rng.normal(0, 3, N_SOURCE) / 3600 / cosd, RA + r * np.cos(phi) / 3600 / cosd])
    dec = np.concatenate([DEC + rng.normal(0, 3, N_SOURCE) / 3600, DEC + r * np.sin(phi) / 3600])
    event_list_hdul(OBS, "EPN", "S003", time_, ra, dec, rng.integers(300, 10000, len(time_)),
                    [(T0, T0 + SPAN / 2 - 500), (T0 + SPAN / 2, T0 + SPAN)], RA, DEC).writeto(events, overwrite=True)
    return events, orbit


def ensure_source(bench) -> tuple[str, Path, Path]:
    from xmmdb_loader.events import load_events

    events, orbit = _files()
    dsn = with_dbname(bench.server_dsn, "xmmbench_timing")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    with psycopg.connect(dsn) as conn:
        load_events(conn, [events, orbit], progress=False)
        conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                     "VALUES (%s, 'BENCH 1E5', %s, %s, 1e-12, 1) ON CONFLICT (srcid) DO NOTHING", (SRCID, RA, DEC))
        conn.commit()
    return dsn, events, orbit


def _fetch_seconds(conn) -> float:
    """Best of 5 in-server times of xmmdb.photons.fetch_photons for the source's cone."""
    said = []
    conn.add_notice_handler(lambda d: said.append(d.message_primary))
    conn.execute(f"""DO $$
GD.get('xmm_booted') or plpy.execute('SELECT xmm.python_boot()')
import time
from xmmdb.pg import Spi
from xmmdb.photons import fetch_photons
best = 1e9
for _ in range(5):
    t0 = time.perf_counter()
    fetch_photons(Spi(plpy), {RA}, {DEC}, 20)
    best = min(best, time.perf_counter() - t0)
plpy.notice('fetch %r' % best)
$$ LANGUAGE plpython3u""")
    conn.commit()
    return float(next(m for m in said if m.startswith("fetch")).split()[1])


def run(bench) -> None:
    dsn, events, orbit = ensure_source(bench)
    with psycopg.connect(dsn) as conn:
        sql = "SELECT xmm_extract_events(%s, 20, %s)"
        data = conn.execute(sql, (SRCID, '{"barycentre": true}')).fetchone()[0]  # warm: boot, kernel, imports
        from astropy.io import fits
        import io

        with fits.open(io.BytesIO(data)) as hdul:
            n = len(hdul["EVENTS"].data)
        bary_ms = timed(lambda: conn.execute(sql, (SRCID, '{"barycentre": true}')).fetchone(), 7)
        plain_ms = timed(lambda: conn.execute(sql, (SRCID, '{}')).fetchone(), 7)
        fetch_s = _fetch_seconds(conn)
    p50, _ = percentiles(bary_ms)
    plain50, _ = percentiles(plain_ms)

    # the alternative: barycentre the event file with the `barycenter` package (file in, file out)
    from barycenter import apply_barycenter_correction

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")

        def file_route():
            apply_barycenter_correction(str(events), str(orbit), outfile=str(Path(tmp) / "bary.evt"), ra=RA, dec=DEC,
                                        ephem=ephemeris.kernel_path(), overwrite=True)

        file_route()
        alt = percentiles(timed(file_route, 3))[0]
    bench.row("timing", f"xmm_extract_events, barycentred, {n:,}-photon source (FITS bytes to the client)", p50 / 1e3,
              "s", "≤ 1 s", f"barycenter {__import__('barycenter').__version__} on the {N_SOURCE + N_BACKGROUND:,}-event "
              "file (read, correct, write)", alt / 1e3,
              note=f"of which fetch_photons (the photon access API) {fetch_s:.3f} s; not barycentred: "
                   f"{plain50 / 1e3:.3f} s; own database, one exposure")

    # throughput: 1e6 times over a day, the same orbit and DE421
    from barycenter import read_orbit
    from barycenter.native import native_barycentric_correction

    t = np.sort(np.random.default_rng(1).uniform(T0, T0 + 86400, 1_000_000))
    tab = read_orbit(str(orbit))
    o = bary.Orbit(tab["MET"].value, np.column_stack([tab[c].value for c in "XYZ"]) / 1e3,
                   np.column_stack([tab[c].value for c in ("Vx", "Vy", "Vz")]) / 1e3)
    mine = []
    t0 = time.perf_counter()
    mine = bary.correction(t, RA, DEC, o)
    ours = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ref = native_barycentric_correction(tab, RA, DEC, ephem=ephemeris.kernel_path())(t)
        theirs = time.perf_counter() - t0
    diff = np.abs(mine - ref).max()
    bench.row("timing", "barycentring throughput (1e6 events, orbit + DE421)", len(t) / ours, "events/s", "",
              "barycenter native engine, exact per event", len(t) / theirs, lower_is_better=False,
              note=f"max |difference| {diff * 1e9:.2f} ns")
