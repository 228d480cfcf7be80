"""The pulsar factory: a blind pulsation search over a field of simulated sources,
in one SQL statement, against the obvious way (extract each source's events and run
stingray's z_n_search on them, per source).

One simulated pn exposure (20 ks, full-frame 73.4 ms frames, a gap) holds 96
sources on a 75" grid: half are pulsars (periods log-uniform 0.3-1000 s, pulsed
fractions 0.1-0.5, sinusoidal), half constant, each with 100-2,000 photons, over a
flat background. Every source is searched by xmm_pulsation_search with its
defaults (exposure-corrected Z^2_2 from 2/T to 6.8 Hz, oversample 2); a pulsar is
found when its search-wide FAP, 1 - (1 - fap)^K over the K sources searched, is
below 1 % at its own frequency (within 1e-3). The recall grid (photons x pulsed
fraction) is written to bench/pulsars.md; results.md gets recall, false
positives and sources searched per minute beside stingray's rate on the same
grid (measured on a few sources: it is much slower)."""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import psycopg

from xmmdb.timing.synthetic import event_list_hdul
from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname

from .run import REPO, WORK

OBS = "0980000001"
RA0, DEC0 = 150.0, 2.0
T0, SPAN, GAP = 7.0e8, 20_000.0, (9_000.0, 9_600.0)
FRAME = 0.0734
N_SIDE = (12, 8)
COUNTS = (100, 300, 1000, 2000)
FRACTIONS = (0.1, 0.2, 0.35, 0.5)
SRCID0 = 980_000_000
SEARCH = '{"barycenter": false, "radius": 15}'
STINGRAY_SOURCES = 3


def _sky(rng):
    """Sources (ra, dec, counts, frequency or 0, pulsed fraction) and the event list."""
    cosd = np.cos(np.radians(DEC0))
    gx, gy = np.meshgrid(np.arange(N_SIDE[0]) - (N_SIDE[0] - 1) / 2, np.arange(N_SIDE[1]) - (N_SIDE[1] - 1) / 2)
    ra = RA0 + gx.ravel() * 75 / 3600 / cosd
    dec = DEC0 + gy.ravel() * 75 / 3600
    n = len(ra)
    pulsar = np.arange(n) % 2 == 0            # every other source; the j-th of each kind:
    j = np.arange(n) // 2
    counts = np.array(COUNTS)[j % len(COUNTS)]                                  # photons cycle fastest,
    fraction = np.where(pulsar, np.array(FRACTIONS)[(j // len(COUNTS)) % len(FRACTIONS)], 0.0)  # then fractions
    freq = np.where(pulsar, 10 ** rng.uniform(np.log10(1 / 1000), np.log10(1 / 0.3), n), 0.0)
    gti = [(T0, T0 + GAP[0]), (T0 + GAP[1], T0 + SPAN)]
    good = sum(b - a for a, b in gti)
    times, ras, decs = [], [], []
    for k in range(n):
        rate = counts[k] / good
        t = np.sort(rng.uniform(T0, T0 + SPAN, rng.poisson(rate * SPAN * 2)))
        keep = rng.uniform(0, 2, len(t)) < 1 + fraction[k] * np.cos(2 * np.pi * freq[k] * (t - T0))
        t = t[keep]
        t = t[(t < T0 + GAP[0]) | (t >= T0 + GAP[1])]
        times.append(t)
        ras.append(ra[k] + rng.normal(0, 4, len(t)) / 3600 / cosd)
        decs.append(dec[k] + rng.normal(0, 4, len(t)) / 3600)
    nb = 60_000                                   # background over the field
    t = rng.uniform(T0, T0 + SPAN, nb)
    t = t[(t < T0 + GAP[0]) | (t >= T0 + GAP[1])]
    times.append(t)
    ras.append(RA0 + rng.uniform(-9, 9, len(t)) / 60 / cosd)
    decs.append(DEC0 + rng.uniform(-6, 6, len(t)) / 60)
    t = np.concatenate(times)
    t = T0 + (np.floor((t - T0) / FRAME) + 0.5) * FRAME      # pn full-frame readout
    ra_all, dec_all = np.concatenate(ras), np.concatenate(decs)
    hdul = event_list_hdul(OBS, "EPN", "S003", t, ra_all, dec_all, rng.integers(300, 10000, len(t)), gti, RA0, DEC0)
    return dict(ra=ra, dec=dec, counts=counts, freq=freq, fraction=fraction), hdul


def _database(bench, sky_hdul):
    from xmmdb_loader.events import load_events

    sky, hdul = sky_hdul
    path = WORK / "pulsars" / f"P{OBS}PNS003PIEVLI0000.FTZ"
    path.parent.mkdir(parents=True, exist_ok=True)
    hdul.writeto(path, overwrite=True)
    dsn = with_dbname(bench.server_dsn, "xmmbench_pulsars")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM xmm.exposure WHERE obs_id = %s", (OBS,))
        conn.execute("DELETE FROM xmm.source WHERE srcid >= %s", (SRCID0,))
        load_events(conn, [path], progress=False)
        for k in range(len(sky["ra"])):
            conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                         "VALUES (%s, %s, %s, %s, 1e-13, 1)", (SRCID0 + k, f"BENCH PULSAR FIELD {k}",
                                                               float(sky["ra"][k]), float(sky["dec"][k])))
        conn.commit()
    return dsn


def run(bench) -> None:
    rng = np.random.default_rng(20261203)
    sky, hdul = _sky(rng)
    dsn = _database(bench, (sky, hdul))
    n = len(sky["ra"])
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT count(*) FROM xmm_pulsation_search(%s, %s)", (SRCID0, SEARCH)).fetchone()   # boot
        t0 = time.perf_counter()
        rows = conn.execute(
            "SELECT s.srcid, r.n_photons, r.best_frequency, r.fap, r.fmax, r.skipped "
            "FROM xmm.source s CROSS JOIN LATERAL xmm_pulsation_search(s.srcid, %s) r "
            "WHERE s.srcid >= %s ORDER BY s.srcid", (SEARCH, SRCID0)).fetchall()
        seconds = time.perf_counter() - t0
        # the alternative: each source's events out as a FITS file, stingray's Z^2_2 on the same grid
        from astropy.io import fits
        from stingray.pulse.search import z_n_search

        alt = []
        for k in range(STINGRAY_SOURCES):
            t1 = time.perf_counter()
            (data,) = conn.execute("SELECT xmm_extract_events(%s, 15)", (SRCID0 + k,)).fetchone()
            with fits.open(io.BytesIO(bytes(data))) as h:
                t = np.asarray(h["EVENTS"].data["TIME"], np.float64)
            span = t.max() - t.min()
            freqs = 2.0 / span + np.arange(0.0, 6.8 - 2.0 / span, 1.0 / (2 * span))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z_n_search(t, freqs, nharm=2, nbin=32)
            alt.append(time.perf_counter() - t1)
    searched = [r for r in rows if r[5] is None]
    k_search = len(searched)
    found = np.zeros(n, bool)
    false_pos = 0
    for srcid, n_ph, f, fap, fmax, skipped in searched:
        k = srcid - SRCID0
        global_fap = 1 - (1 - fap) ** k_search
        if sky["freq"][k] > 0:
            found[k] = global_fap < 0.01 and abs(f - sky["freq"][k]) < 1e-3 * sky["freq"][k]
        elif global_fap < 0.01:
            false_pos += 1
    pulsar = sky["freq"] > 0
    per_min = 60 * len(rows) / seconds
    alt_per_min = 60 / np.mean(alt)
    bench.row("pulsars", f"blind pulsation search: sources per minute ({n} sources, one SQL statement)", per_min,
              "sources/min", "", f"xmm_extract_events + stingray z_n_search per source (same grid, "
              f"{STINGRAY_SOURCES} sources)", alt_per_min, lower_is_better=False,
              note=f"recall {found[pulsar].mean():.0%} of {pulsar.sum()} pulsars, {false_pos} false positives of "
                   f"{(~pulsar).sum()} constant sources at search-wide FAP < 1 %; grid in bench/pulsars.md")
    lines = ["# Pulsar factory: recall of the blind search", "",
             f"{n} sources in one simulated pn exposure ({SPAN / 1e3:.0f} ks, 73.4 ms frames), half pulsars "
             "(sinusoidal, periods log-uniform 0.3-1000 s), searched by `xmm_pulsation_search` (defaults, "
             "not barycentred): found = search-wide FAP < 1 % at the true frequency. bench/pulsars.py.", "",
             "| photons \\ pulsed fraction | " + " | ".join(f"{p:g}" for p in FRACTIONS) + " |",
             "|---|" + "---|" * len(FRACTIONS)]
    for c in COUNTS:
        cells = []
        for p in FRACTIONS:
            m = pulsar & (sky["counts"] == c) & (sky["fraction"] == p)
            cells.append(f"{found[m].sum()}/{m.sum()}" if m.any() else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", f"False positives: {false_pos} of {(~pulsar).sum()} constant sources. "
              f"Search: {seconds:.1f} s for {len(rows)} sources ({per_min:.0f}/min); stingray per source "
              f"(extraction + z_n_search on the same grid): {np.mean(alt):.1f} s ({alt_per_min:.1f}/min)."]
    (REPO / "bench" / "pulsars.md").write_text("\n".join(lines) + "\n")
