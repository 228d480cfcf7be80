"""HiPS of the photons: xmm_hips_build (in the database, packed rows decoded in bounded chunks)
on the sample sky and on the photon benchmark's sky (XMMDB_BENCH_PHOTONS, default 1e8; made
and loaded as the photons section makes it), against the obvious alternative measured in the
same run: every photon of the same selection fetched to a client (binary COPY of the photon
view) and binned there with astropy-healpix and numpy into the same tiles (orders 7 to 3, the
same PNGs; nothing written back). Also one exposure's field rebuilt after a load marks it.
Tiles/s and photons/s of the build."""

from __future__ import annotations

import io
import time

import numpy as np
import psycopg

from xmmdb.photons import hips
from xmmdb_loader import database
from xmmdb_loader.cli import load_sample
from xmmdb_loader.dsn import with_dbname

from .run import REPO

PHOTONS = ("COPY (SELECT ra, dec, pi FROM xmm.photon WHERE xmm.standard_event(instrument, pattern, flag)"
           " AND pi BETWEEN 200 AND 12000) TO STDOUT (FORMAT binary)")
ROW = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("ra", ">f8"), ("l2", ">i4"), ("dec", ">f8"), ("l3", ">i4"),
                ("pi", ">i4")])


def client_build(conn) -> tuple[int, int]:
    """The alternative: (tiles, photons) of the same HiPS made in this process."""
    buf = io.BytesIO()
    with conn.cursor().copy(PHOTONS) as cp:
        for block in cp:
            buf.write(block)
    data = buf.getbuffer()[19:-2]                         # the COPY header and trailer
    rows = np.frombuffer(data, dtype=ROW)
    band = np.searchsorted([b[1] for b in hips.BANDS[:-1]], rows["pi"], side="right")
    tile, row, col = hips.tile_pixel(hips.healpix_of(rows["ra"], rows["dec"]))
    order = np.argsort(tile, kind="stable")
    tile, key = tile[order], ((band * hips.WIDTH + row) * hips.WIDTH + col)[order]
    starts = np.flatnonzero(np.r_[True, tile[1:] != tile[:-1]])
    level = {}
    n_tiles = 0
    for s, e in zip(starts, np.r_[starts[1:], len(tile)]):
        counts = np.bincount(key[s:e], minlength=3 * hips.PIXELS).reshape(3, hips.WIDTH, hips.WIDTH).astype(np.uint32)
        hips.render(counts, hips.ORDER, 10.0, [3.0, 3.0, 3.0])
        level[int(tile[s])] = counts
        n_tiles += 1
    for k in range(hips.ORDER, hips.ORDER_MIN, -1):       # parents from children, as the build does
        parents: dict[int, np.ndarray] = {}
        half = hips.WIDTH // 2
        for t, counts in level.items():
            p, q = t >> 2, t & 3
            out = parents.setdefault(p, np.zeros((3, hips.WIDTH, hips.WIDTH), np.uint32))
            out[:, (q & 1) * half:(q & 1) * half + half, (q >> 1) * half:(q >> 1) * half + half] = hips.bin_down(counts, 2)
        for p, counts in parents.items():
            hips.render(counts, k - 1, 10.0, [3.0, 3.0, 3.0])
        level = parents
        n_tiles += len(parents)
    return n_tiles, len(rows)


def measure(bench, conn, label: str) -> None:
    conn.execute("SET statement_timeout = 0")
    t0 = time.perf_counter()
    built = conn.execute("SELECT xmm_hips_build('{\"all\": true}')").fetchone()[0]
    conn.commit()
    wall = time.perf_counter() - t0
    tiles = sum(built["tiles"].values())
    stored = conn.execute("SELECT n_photons FROM xmm.hips_build").fetchone()[0]
    t0 = time.perf_counter()
    alt_tiles, alt_photons = client_build(conn)
    alt = time.perf_counter() - t0
    conn.rollback()
    assert (alt_tiles, alt_photons) == (tiles, stored), ((alt_tiles, alt_photons), (tiles, stored))
    bench.row("hips", f"build the HiPS, {label} ({stored:,} photons, {tiles:,} tiles, orders 3-7)", wall, "s", "",
              "client: photons fetched (binary COPY of the photon view), binned with astropy-healpix/numpy, "
              "same tiles and PNGs, nothing stored", alt,
              note=f"{tiles / wall:,.1f} tiles/s, {stored / wall / 1e6:.2f} M photons/s; photons read "
                   f"{built['photons']:,} (cells at tile edges are read by both groups)")
    # a load marks one exposure's cells: its field is rebuilt, nothing else
    exp = conn.execute("SELECT obs_id, instrument, exp_id FROM xmm.exposure ORDER BY n_photons DESC LIMIT 1").fetchone()
    conn.execute("SELECT xmm.hips_touch(%s, %s, %s)", exp)
    t0 = time.perf_counter()
    one = conn.execute("SELECT xmm_hips_build()").fetchone()[0]
    conn.commit()
    bench.row("hips", f"rebuild after one exposure's load, {label}", time.perf_counter() - t0, "s", "",
              note=f"{sum(one['tiles'].values())} tiles rebuilt of {tiles:,}, {one['photons']:,} photons read")


def run(bench) -> None:
    # the sample sky, in a database of its own
    dsn = with_dbname(bench.server_dsn, "xmmbench_hips_sample")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    with psycopg.connect(dsn) as conn:
        if not conn.execute("SELECT EXISTS (SELECT FROM xmm.photon_cell)").fetchone()[0]:
            load_sample(conn, REPO / "data" / "sample")
            conn.commit()
        measure(bench, conn, "sample sky")
    # the photon benchmark's sky, as the photons section loads it
    from astropy.io import fits

    from .photons import ensure, size, sky

    files = sky(size())
    n_photons = sum(fits.getheader(f, 1)["NAXIS2"] for f in files)
    dsn, _ = ensure(bench, files, n_photons)
    with psycopg.connect(dsn) as conn:
        measure(bench, conn, f"benchmark sky of {len(files):,} exposures")
