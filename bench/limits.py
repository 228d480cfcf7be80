"""Upper limits for a list of positions in one statement (LATERAL xmm_upper_limit) on
the sample sky (database xmm: four exposures with their exposure maps), against the
obvious alternative: a script that, for each position, reads the event files and
exposure maps with astropy, counts the photons in the aperture and annulus, reads
the map's pixel with astropy.wcs and takes astropy's Kraft-Burrows-Nousek interval."""

from __future__ import annotations

import time
import warnings

import numpy as np
import psycopg

from xmmdb.photons import psf
from xmmdb.photons.sky import deproject, offsets
from xmmdb_loader.dsn import with_dbname

from .run import REPO

POSITIONS = 4000
ALTERNATIVE_POSITIONS = 40
SAMPLE = REPO / "data" / "sample"


def positions(conn, n: int, seed: int = 5) -> list[tuple[float, float]]:
    """Random positions within 13' of the sample's pointings."""
    pointings = conn.execute("SELECT DISTINCT ra_pnt, dec_pnt FROM xmm.exposure ORDER BY 1").fetchall()
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        ra0, dec0 = pointings[k % len(pointings)]
        r, a = np.radians(13 / 60 * np.sqrt(rng.random())), rng.uniform(0, 2 * np.pi)
        ra, dec = deproject(ra0, dec0, r * np.cos(a), r * np.sin(a))
        out.append((float(ra), float(dec)))
    return out


def astropy_limit(ra: float, dec: float) -> list:
    """One position the way a script does it: every event file and exposure map read again."""
    from astropy.io import fits
    from astropy.stats import poisson_conf_interval
    from astropy.wcs import WCS

    out = []
    for path in sorted((SAMPLE / "events").glob("P*EVLI*.FTZ")):
        with fits.open(path) as hdul:
            h = hdul["EVENTS"].header
            ev = hdul["EVENTS"].data
            inst, obs_id, exp_id = h["INSTRUME"], h["OBS_ID"], h["EXPIDSTR"]
            ra0, dec0 = h["TCRVL2"], h["TCRVL3"]
            x, y = ev["X"] - h["TCRPX2"], ev["Y"] - h["TCRPX3"]
            era, edec = deproject(ra0, dec0, np.radians(x * h["TCDLT2"]), np.radians(y * h["TCDLT3"]))
            keep = (ev["PI"] >= 200) & (ev["PI"] < 12000) & (ev["PATTERN"] <= (4 if inst == "EPN" else 12))
            east, north = offsets(ra, dec, era[keep], edec[keep])
            theta = np.hypot(*offsets(h["RA_PNT"], h["DEC_PNT"], ra, dec)) / 60
        if theta > 15:
            continue
        maps = sorted((SAMPLE / "expmaps").glob(f"P{obs_id}{path.name[11:13]}{exp_id}EXPMAP*"))
        exposure = []
        for m in maps:
            with fits.open(m) as hdul, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                px, py = WCS(hdul[0].header).world_to_pixel_values(ra, dec)
                ix, iy = int(np.floor(px + 0.5)), int(np.floor(py + 0.5))
                data = hdul[0].data
                exposure.append(float(data[iy, ix]) if 0 <= iy < data.shape[0] and 0 <= ix < data.shape[1] else 0.0)
        t = float(np.mean(exposure)) if exposure else 0.0
        if t <= 0:
            continue
        r = float(psf.radius_enclosing(inst, 0.7, np.sqrt(0.2 * 12), theta))
        d = np.hypot(east, north)
        n, b = int(np.count_nonzero(d < r)), int(np.count_nonzero((d >= 60) & (d < 120)))
        ratio = r ** 2 / (120 ** 2 - 60 ** 2)
        lo, hi = poisson_conf_interval(max(n, 1), "kraft-burrows-nousek", background=ratio * b, confidence_level=0.9)
        out.append((obs_id, inst, n, b, hi[0] / t))
    return out


SQL = ("SELECT count(*) FROM unnest(%s::float8[], %s::float8[]) AS p(ra, dec) "
       "CROSS JOIN LATERAL xmm_upper_limit(p.ra, p.dec) u")


def batch(dsn: str, pts: list) -> int:
    """Upper limits of the positions in one statement of a new session (booted first)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SQL, ([p[0] for p in pts[:2]], [p[1] for p in pts[:2]]))
        return conn.execute(SQL, ([p[0] for p in pts], [p[1] for p in pts])).fetchone()[0]


def run(bench) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dsn = with_dbname(bench.server_dsn, "xmm")
    with psycopg.connect(dsn, autocommit=True) as conn:
        maps = conn.execute("SELECT count(*) FROM xmm.exposure_map").fetchone()[0]
        pts = positions(conn, POSITIONS)
    t0 = time.perf_counter()
    rows = batch(dsn, pts)
    one = POSITIONS / (time.perf_counter() - t0) * 60
    # both cores: the list split between two sessions (each boots its interpreter, as in the single run)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        rows2 = sum(pool.map(lambda half: batch(dsn, half), (pts[0::2], pts[1::2])))
    two = POSITIONS / (time.perf_counter() - t0) * 60
    assert rows2 == rows
    t0 = time.perf_counter()
    alt_rows = sum(len(astropy_limit(*p)) for p in pts[:ALTERNATIVE_POSITIONS])
    alt_rate = ALTERNATIVE_POSITIONS / (time.perf_counter() - t0) * 60
    alternative = (f"astropy per position: event files and {maps} exposure maps read, aperture, annulus, KBN "
                   f"({ALTERNATIVE_POSITIONS} positions, {alt_rows} rows; one core)")
    what = f"{POSITIONS:,} positions (sample sky, {rows:,} rows: exposure x camera, band 8; LATERAL xmm_upper_limit)"
    bench.row("limits", f"upper limits, two sessions (the list split in two): {what}", two, "positions/min",
              "≥ 10,000 positions/min", alternative, alt_rate, lower_is_better=False,
              note="both cores; each session's interpreter boot included")
    bench.row("limits", f"upper limits, one session: {what}", one, "positions/min", "", alternative, alt_rate,
              lower_is_better=False, note="one core: ~2 ms of each position is planning the photon cone query")
