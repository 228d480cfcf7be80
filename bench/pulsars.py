"""The pulsar factory: a blind pulsation search over fields of simulated sources, in
one SQL statement (xmm_pulsation_survey), against the obvious way (extract each
source's events and run stingray's z_n_search on them, per source).

Three simulated pn exposures:
- the grid: 20 ks, full frame (73.4 ms frames), a gap; 96 sources on a 75" grid,
  half pulsars (periods log-uniform 0.15-1000 s: two frames to the span's 1/20,
  pulsed fractions 0.1-0.5, sinusoidal), half constant, 100-2,000 photons each,
  over a flat background; searched with the defaults (exposure-corrected Z^2_2
  from 2/T to 6.8 Hz, oversample 2) with 1 and with 2 compute threads;
- accelerated: 20 ks, full frame, 4 pulsars at 1-4 Hz whose frequency drifts by
  fdot = 0.8-2e-8 Hz/s (0.4-1 cycle of phase over the span: a binary's
  acceleration) and 4 constant sources, 1,500 photons each; searched without and
  with an fdot grid (fdot_max 2.5e-8 Hz/s);
- fast: 5 ks, small window (5.67 ms frames), 4 pulsars at 10-100 ms and 4 constant
  sources, 2,000 photons each; searched up to 88 Hz (max_work 5e9).
And the real Abell 907 MOS data (../shared/data): nine positions, none pulsing.
A pulsar is found when its search-wide FAP (search_fap, over the sources of its
search) is below 1 % at its own frequency (within 1e-3); anything else below 1 %
is a false positive. The recall grid is
written to bench/pulsars.md; results.md gets recall, false positives and sources
searched per minute beside stingray's rate on the same grid (measured on a few
sources: it is much slower)."""

from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import psycopg

from xmmdb_loader.simulate.synthetic import event_list_hdul
from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname

from .run import REPO, WORK

N_SIDE = (12, 8)
COUNTS = (100, 300, 1000, 2000)
FRACTIONS = (0.1, 0.2, 0.35, 0.5)
SRCID0 = 980_000_000
STINGRAY_SOURCES = 3
BASE = {"barycentre": False, "radius": 15}


@dataclass
class Field:
    obs_id: str
    ra0: float
    dec0: float
    span: float
    frame: float
    gaps: list
    ra: np.ndarray
    dec: np.ndarray
    counts: np.ndarray
    freq: np.ndarray
    fdot: np.ndarray
    fraction: np.ndarray
    srcid0: int
    background: int = 60_000
    half_width_arcmin: tuple = (9.0, 6.0)
    hdul: object = field(default=None)

    @property
    def srcids(self):
        return [self.srcid0 + k for k in range(len(self.ra))]


def _grid_field(rng) -> Field:
    ra0, dec0 = 150.0, 2.0
    cosd = np.cos(np.radians(dec0))
    gx, gy = np.meshgrid(np.arange(N_SIDE[0]) - (N_SIDE[0] - 1) / 2, np.arange(N_SIDE[1]) - (N_SIDE[1] - 1) / 2)
    n = gx.size
    pulsar = np.arange(n) % 2 == 0            # every other source; the j-th of each kind:
    j = np.arange(n) // 2
    counts = np.array(COUNTS)[j % len(COUNTS)]                                  # photons cycle fastest,
    fraction = np.where(pulsar, np.array(FRACTIONS)[(j // len(COUNTS)) % len(FRACTIONS)], 0.0)  # then fractions
    freq = np.where(pulsar, 10 ** rng.uniform(np.log10(1 / 1000), np.log10(1 / 0.15), n), 0.0)
    return Field("0980000001", ra0, dec0, 20_000.0, 0.0734, [(9_000.0, 9_600.0)],
                 ra0 + gx.ravel() * 75 / 3600 / cosd, dec0 + gy.ravel() * 75 / 3600, counts, freq, np.zeros(n),
                 fraction, SRCID0)


def _small_field(rng, obs_id, ra0, dec0, span, frame, freq, fdot, counts, srcid0, half_width) -> Field:
    """8 sources on a 2 x 4 grid of 60": the first four pulsars (pulsed fraction 0.4-0.5), the others constant."""
    cosd = np.cos(np.radians(dec0))
    gx, gy = np.meshgrid(np.arange(4) - 1.5, np.arange(2) - 0.5)
    n = gx.size
    return Field(obs_id, ra0, dec0, span, frame, [], ra0 + gx.ravel() * 60 / 3600 / cosd,
                 dec0 + gy.ravel() * 60 / 3600, np.full(n, counts), np.concatenate([freq, np.zeros(n - len(freq))]),
                 np.concatenate([fdot, np.zeros(n - len(fdot))]),
                 np.concatenate([np.full(len(freq), 0.45), np.zeros(n - len(freq))]), srcid0,
                 background=int(6_000 * span / 20_000), half_width_arcmin=(half_width, half_width))


def _events(rng, f: Field, t0: float) -> Field:
    """The field's pn event list: sources (phase f (t - tm) + fdot (t - tm)^2 / 2 about the middle
    tm), a flat background, times on the readout frames."""
    cosd = np.cos(np.radians(f.dec0))
    edges = [t0] + [t0 + x for gap in f.gaps for x in gap] + [t0 + f.span]
    gti = list(zip(edges[::2], edges[1::2]))
    good = sum(b - a for a, b in gti)
    tm = t0 + f.span / 2

    def in_gti(t):
        return np.any([(t >= a) & (t < b) for a, b in gti], axis=0)

    times, ras, decs = [], [], []
    for k in range(len(f.ra)):
        t = np.sort(rng.uniform(t0, t0 + f.span, rng.poisson(f.counts[k] / good * f.span * 2)))
        phase = f.freq[k] * (t - tm) + 0.5 * f.fdot[k] * (t - tm) ** 2
        t = t[rng.uniform(0, 2, len(t)) < 1 + f.fraction[k] * np.cos(2 * np.pi * phase)]
        t = t[in_gti(t)]
        times.append(t)
        ras.append(f.ra[k] + rng.normal(0, 4, len(t)) / 3600 / cosd)
        decs.append(f.dec[k] + rng.normal(0, 4, len(t)) / 3600)
    t = rng.uniform(t0, t0 + f.span, f.background)
    t = t[in_gti(t)]
    times.append(t)
    wx, wy = f.half_width_arcmin
    ras.append(f.ra0 + rng.uniform(-wx, wx, len(t)) / 60 / cosd)
    decs.append(f.dec0 + rng.uniform(-wy, wy, len(t)) / 60)
    t = np.concatenate(times)
    t = t0 + (np.floor((t - t0) / f.frame) + 0.5) * f.frame      # readout frames
    f.hdul = event_list_hdul(f.obs_id, "EPN", "S003", t, np.concatenate(ras), np.concatenate(decs),
                             rng.integers(300, 10000, len(t)), gti, f.ra0, f.dec0)
    return f


def _fields(rng) -> list[Field]:
    grid = _events(rng, _grid_field(rng), 7.0e8)
    accel = _events(rng, _small_field(rng, "0980000002", 160.0, -5.0, 20_000.0, 0.0734, rng.uniform(1, 4, 4),
                                      np.array([0.8e-8, -1.2e-8, 1.6e-8, -2.0e-8]), 1500, SRCID0 + 1000, 4.0), 7.1e8)
    fast = _events(rng, _small_field(rng, "0980000003", 170.0, 10.0, 5_000.0, 0.0056718,
                                     10 ** rng.uniform(1, 2, 4), np.zeros(4), 2000, SRCID0 + 2000, 2.2), 7.2e8)
    return [grid, accel, fast]


def _database(bench, fields: list[Field]):
    from xmmdb_loader.events import load_events

    dsn = with_dbname(bench.server_dsn, "xmmbench_pulsars")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    paths = []
    for f in fields:
        path = WORK / "pulsars" / f"P{f.obs_id}PNS003PIEVLI0000.FTZ"
        path.parent.mkdir(parents=True, exist_ok=True)
        f.hdul.writeto(path, overwrite=True)
        paths.append(path)
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM xmm.exposure WHERE obs_id = ANY(%s)", ([f.obs_id for f in fields],))
        conn.execute("DELETE FROM xmm.source WHERE srcid >= %s", (SRCID0,))
        load_events(conn, paths, progress=False)
        for f in fields:
            for k, srcid in enumerate(f.srcids):
                conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                             "VALUES (%s, %s, %s, %s, 1e-13, 1)", (srcid, f"BENCH PULSAR {srcid}",
                                                                   float(f.ra[k]), float(f.dec[k])))
        conn.commit()
    return dsn


A907 = (149.5922925, -11.0597)   # Abell 907's core: a galaxy cluster, three MOS epochs with 100-200 GTIs each
A907_SRCID0 = SRCID0 + 3000


def _abell907(conn) -> list[int]:
    """The real Abell 907 MOS event lists (../shared/data) and nine positions on them: the core
    and eight 2' around it. None pulses: anything found there is a false positive."""
    from xmmdb_loader.events import load_events

    files = sorted((REPO.parent / "shared" / "data" / "events" / "abell907").glob("*/mos*_clean_evts.fits"))
    if not files:
        raise SystemExit("bench: ../shared/data/events/abell907 is missing (the false-positive check needs it)")
    load_events(conn, files, progress=False)      # a no-op when they are loaded
    srcids = []
    for k in range(9):
        angle = 2 * np.pi * k / 8
        r = 0.0 if k == 0 else 120.0
        ra = A907[0] + r * np.cos(angle) / 3600 / np.cos(np.radians(A907[1]))
        dec = A907[1] + r * np.sin(angle) / 3600
        conn.execute("INSERT INTO xmm.source (srcid, iauname, sc_ra, sc_dec, sc_ep_8_flux, n_detections) "
                     "VALUES (%s, %s, %s, %s, 1e-13, 3)", (A907_SRCID0 + k, f"BENCH A907 {k}", ra, dec))
        srcids.append(A907_SRCID0 + k)
    conn.commit()
    return srcids


def _survey(conn, f: Field, options: dict) -> tuple[list, float]:
    t0 = time.perf_counter()
    rows = conn.execute("SELECT srcid, n_photons, best_frequency, best_fdot, search_fap, skipped "
                        "FROM xmm_pulsation_survey(%s, %s)", (f.srcids, json.dumps({**BASE, **options}))).fetchall()
    return rows, time.perf_counter() - t0


def _found(f: Field, rows) -> tuple[np.ndarray, int]:
    """(found per source, false positives): search-wide FAP < 1 % at the true frequency."""
    found = np.zeros(len(f.ra), bool)
    false_pos = 0
    for srcid, n_ph, freq, fdot, search_fap, skipped in rows:
        k = srcid - f.srcid0
        if skipped is not None or search_fap >= 0.01:
            continue
        if f.freq[k] > 0:
            found[k] = abs(freq - f.freq[k]) < 1e-3 * f.freq[k]
        else:
            false_pos += 1
    return found, false_pos


def run(bench) -> None:
    rng = np.random.default_rng(20261203)
    grid, accel, fast = fields = _fields(rng)
    dsn = _database(bench, fields)
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT count(*) FROM xmm_pulsation_search(%s, %s)", (SRCID0, json.dumps(BASE))).fetchone()
        rows1, seconds1 = _survey(conn, grid, {"threads": 1})
        rows, seconds = _survey(conn, grid, {"threads": 2})
        plain, _ = _survey(conn, accel, {})
        grid_fdot, seconds_fdot = _survey(conn, accel, {"fdot_max": 2.5e-8, "max_work": 1e10})
        quick, seconds_fast = _survey(conn, fast, {"max_work": 5e9})
        a907 = _abell907(conn)
        cluster = conn.execute("SELECT srcid, search_fap, skipped FROM xmm_pulsation_survey(%s, %s)",
                               (a907, json.dumps(BASE))).fetchall()
        # the alternative: each source's events out as a FITS file, stingray's Z^2_2 on the same grid
        from astropy.io import fits
        from stingray.pulse.search import z_n_search

        alt = []
        for srcid in grid.srcids[:STINGRAY_SOURCES]:
            t1 = time.perf_counter()
            (data,) = conn.execute("SELECT xmm_extract_events(%s, 15)", (srcid,)).fetchone()
            with fits.open(io.BytesIO(bytes(data))) as h:
                t = np.asarray(h["EVENTS"].data["TIME"], np.float64)
            span = t.max() - t.min()
            freqs = 2.0 / span + np.arange(0.0, 6.8 - 2.0 / span, 1.0 / (2 * span))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z_n_search(t, freqs, nharm=2, nbin=32)
            alt.append(time.perf_counter() - t1)
    found, false_pos = _found(grid, rows)
    assert [r[:3] for r in rows1] == [r[:3] for r in rows], "1 and 2 threads disagree"
    found_plain, fp_plain = _found(accel, plain)
    found_fdot, fp_fdot = _found(accel, grid_fdot)
    found_fast, fp_fast = _found(fast, quick)
    fp_a907 = sum(1 for _, search_fap, skipped in cluster if skipped is None and search_fap < 0.01)
    searched_a907 = sum(1 for r in cluster if r[2] is None)
    false_all = false_pos + fp_fdot + fp_fast + fp_a907
    n_constant = int(sum((f.freq == 0).sum() for f in fields)) + searched_a907
    pulsar = grid.freq > 0
    n = len(grid.ra)
    per_min, per_min1 = 60 * n / seconds, 60 * n / seconds1
    alt_per_min = 60 / np.mean(alt)
    bench.row("pulsars", f"blind pulsation search: sources per minute ({n} sources, one SQL statement, 2 threads)",
              per_min, "sources/min", "", f"xmm_extract_events + stingray z_n_search per source (same grid, "
              f"{STINGRAY_SOURCES} sources)", alt_per_min, lower_is_better=False,
              note=f"recall {found[pulsar].mean():.0%} of {pulsar.sum()} pulsars (0.15-1000 s); "
                   f"{false_all} false positives of {n_constant} constant sources (three simulated fields and "
                   f"{searched_a907} positions on the real Abell 907 MOS data) at search-wide FAP < 1 %; grid in "
                   f"bench/pulsars.md")
    bench.row("pulsars", "blind pulsation search with 2 compute threads against 1: sources per minute", per_min,
              "sources/min", "", "1 thread", per_min1, lower_is_better=False,
              note="the same rows; the grid shared by the threads (2 cores)")
    bench.row("pulsars", "accelerated pulsars (fdot 0.8-2e-8 Hz/s) found with an fdot grid", float(found_fdot.sum()),
              "of 4", "", "without the grid", float(found_plain.sum()), lower_is_better=False,
              note=f"fdot_max 2.5e-8 Hz/s: {60 * len(accel.ra) / seconds_fdot:.1f} sources/min")
    bench.row("pulsars", "millisecond pulsars (10-100 ms, pn small window) found", float(found_fast.sum()), "of 4",
              "", "", None, lower_is_better=False,
              note=f"searched up to 88 Hz (max_work 5e9): {60 * len(fast.ra) / seconds_fast:.1f} sources/min")
    lines = ["# Pulsar factory: recall of the blind search", "",
             f"{n} sources in one simulated pn exposure ({grid.span / 1e3:.0f} ks, 73.4 ms frames), half pulsars "
             "(sinusoidal, periods log-uniform 0.15-1000 s), searched by `xmm_pulsation_survey` (defaults, "
             "not barycentred): found = search-wide FAP < 1 % at the true frequency. bench/pulsars.py.", "",
             "| photons \\ pulsed fraction | " + " | ".join(f"{p:g}" for p in FRACTIONS) + " |",
             "|---|" + "---|" * len(FRACTIONS)]
    for c in COUNTS:
        cells = []
        for p in FRACTIONS:
            m = pulsar & (grid.counts == c) & (grid.fraction == p)
            cells.append(f"{found[m].sum()}/{m.sum()}" if m.any() else "")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")

    def listing(f, found_with, found_without=None):
        out = []
        for k in np.flatnonzero(f.freq > 0):
            seen = "found" if found_with[k] else "missed"
            if found_without is not None:
                seen += " (without the grid: " + ("found" if found_without[k] else "missed") + ")"
            out.append(f"| {1 / f.freq[k]:.4g} s | {f.fdot[k]:.2g} | {seen} |")
        return out

    lines += ["", f"False positives: {false_pos} of {(~pulsar).sum()} constant sources. "
              f"Search: {seconds:.1f} s for {n} sources with 2 threads ({per_min:.0f}/min), {seconds1:.1f} s with 1 "
              f"({per_min1:.0f}/min); stingray per source (extraction + z_n_search on the same grid): "
              f"{np.mean(alt):.1f} s ({alt_per_min:.1f}/min).", "",
              "Accelerated pulsars (20 ks, 1,500 photons, pulsed fraction 0.45), `{\"fdot_max\": 2.5e-8}`:", "",
              "| period | fdot (Hz/s) | |", "|---|---|---|", *listing(accel, found_fdot, found_plain), "",
              f"False positives among its 4 constant sources: {fp_fdot}.", "",
              "Millisecond pulsars (5 ks pn small window, 5.67 ms frames, 2,000 photons), `{\"max_work\": 5e9}`:", "",
              "| period | fdot (Hz/s) | |", "|---|---|---|", *listing(fast, found_fast), "",
              f"False positives among its 4 constant sources: {fp_fast}.", "",
              f"Real data, no pulsar: {searched_a907} positions on the Abell 907 MOS event lists (the core and 2' "
              f"around it; three epochs, 100-200 GTIs each, searched incoherently up to the MOS frames' limit): "
              f"{fp_a907} false positives."]
    (REPO / "bench" / "pulsars.md").write_text("\n".join(lines) + "\n")
