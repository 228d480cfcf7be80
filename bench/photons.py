"""Photons: the packed layout (xmm.photon_cell, one row per exposure
and Q3C cell) against the plain row-per-photon layout, at the same scale:
bytes/photon (heap, indexes, TOAST), 30" region query p50/p95, load rate; and
xmm_photons against reading and filtering the same event files with astropy.

Size: XMMDB_BENCH_PHOTONS (default 1e8; the sky is written once to bench/work
and both layouts are reused by later runs while the size is unchanged).
"""

from __future__ import annotations

import os
import random
import struct
import time

import numpy as np
import psycopg

from xmmdb_loader import database
from xmmdb_loader.dsn import with_dbname
from xmmdb_loader.events import load_events, q3c_cells, read_event_list
from xmmdb_loader.simulate.events import write_bench_events

from .run import WORK, percentiles, timed

SEED = 11
RADIUS = 30.0
ROW_TABLE = """CREATE TABLE bench_row.photon (obsid integer, inst smallint, time double precision,
    ra double precision, dec double precision, pi smallint, pattern smallint, flag integer,
    ccdnr smallint, x real, y real)"""
INSTRUMENT_CODE = {"EPN": 0, "EMOS1": 1, "EMOS2": 2}


def size() -> int:
    return int(float(os.environ.get("XMMDB_BENCH_PHOTONS", "1e8")))


def sky(n: int) -> list:
    folder = WORK / f"photons-{n}-{SEED}"
    done = folder / "done"
    if not done.exists():
        t0 = time.perf_counter()
        write_bench_events(folder, n, SEED)
        done.write_text(f"{time.perf_counter() - t0:.0f} s\n")
    return sorted(folder.glob("P*.fits"))


def row_copy(events) -> bytes:
    """Binary COPY rows of the row layout for one event list, in cell order (clustered)."""
    c = events.columns
    ra, dec = events.wcs.to_radec(c["X"], c["Y"])
    order = np.lexsort((c["TIME"], q3c_cells(ra, dec)))
    n = len(order)
    rec = np.empty(n, dtype=[("nf", ">i2"), ("l1", ">i4"), ("obsid", ">i4"), ("l2", ">i4"), ("inst", ">i2"),
                             ("l3", ">i4"), ("time", ">f8"), ("l4", ">i4"), ("ra", ">f8"), ("l5", ">i4"), ("dec", ">f8"),
                             ("l6", ">i4"), ("pi", ">i2"), ("l7", ">i4"), ("pattern", ">i2"), ("l8", ">i4"),
                             ("flag", ">i4"), ("l9", ">i4"), ("ccdnr", ">i2"), ("l10", ">i4"), ("x", ">f4"),
                             ("l11", ">i4"), ("y", ">f4")])
    rec["nf"] = 11
    for name, width in (("l1", 4), ("l2", 2), ("l3", 8), ("l4", 8), ("l5", 8), ("l6", 2), ("l7", 2), ("l8", 4),
                        ("l9", 2), ("l10", 4), ("l11", 4)):
        rec[name] = width
    rec["obsid"] = int(events.meta["obs_id"])
    rec["inst"] = INSTRUMENT_CODE[events.meta["instrument"]]
    rec["time"], rec["ra"], rec["dec"] = c["TIME"][order], ra[order], dec[order]
    for col in ("pi", "pattern", "flag", "ccdnr", "x", "y"):
        rec[col] = c[col.upper()][order]
    return rec.tobytes()


def cpu_seconds(conn) -> np.ndarray:
    """CPU seconds used so far by this process (all threads: reading and packing) and by the
    connection's backend (COPY, indexes), as [client, server]."""
    with open(f"/proc/{conn.info.backend_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return np.array([time.process_time(), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")])


def load_rows(conn, files) -> tuple[float, float]:
    conn.execute("DROP SCHEMA IF EXISTS bench_row CASCADE")
    conn.execute("CREATE SCHEMA bench_row")
    conn.execute(ROW_TABLE)
    conn.commit()
    t0, c0 = time.perf_counter(), cpu_seconds(conn)
    for path in files:
        events = read_event_list(path)
        with conn.cursor().copy("COPY bench_row.photon FROM STDIN (FORMAT binary)") as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
            data = row_copy(events)
            for i in range(0, len(data), 1 << 22):
                cp.write(data[i:i + (1 << 22)])
            cp.write(struct.pack("!h", -1))
        conn.commit()
    conn.execute("CREATE INDEX photon_q3c_idx ON bench_row.photon (q3c_ang2ipix(ra, dec))")
    conn.execute("ANALYZE bench_row.photon")
    conn.commit()
    return time.perf_counter() - t0, cpu_seconds(conn) - c0


def ensure(bench, files, n_files_photons):
    """The benchmark database with both layouts; (packed seconds, row seconds) or None when reused."""
    dsn = with_dbname(bench.server_dsn, "xmmbench_photons")
    database.ensure_database(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        state = database.ensure_extension(conn, database.available_build_id(conn), keep_data=False)
        database.configure_database(conn)
    with psycopg.connect(dsn) as conn:
        packed = conn.execute("SELECT coalesce(sum(n_photons), 0) FROM xmm.exposure").fetchone()[0]
        rows = conn.execute("SELECT CASE WHEN to_regclass('bench_row.photon_q3c_idx') IS NULL THEN -1 ELSE"
                            " (SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('bench_row.photon')) END"
                            ).fetchone()[0]
        times = [None, None]
        if packed != n_files_photons or state != "current":
            conn.execute("TRUNCATE xmm.photon_cell, xmm.exposure, xmm.gti, xmm.orbit CASCADE")
            conn.commit()
            t0, c0 = time.perf_counter(), cpu_seconds(conn)
            load_events(conn, files, progress=False)
            times[0] = time.perf_counter() - t0, cpu_seconds(conn) - c0
            conn.commit()
        if abs(rows - n_files_photons) > 0.01 * n_files_photons:
            times[1] = load_rows(conn, files)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE xmm.photon_cell")
        conn.execute("VACUUM ANALYZE bench_row.photon")
    return dsn, times


def sizes(conn, parent: str) -> tuple[int, int, int]:
    """(heap, indexes, TOAST incl. its index) bytes of a table and all its partitions."""
    return conn.execute("""
        SELECT sum(pg_relation_size(c.oid)), sum(pg_indexes_size(c.oid)),
               sum(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0))
          FROM pg_class c WHERE c.oid = %s::regclass
            OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass)""",
                        (parent, parent)).fetchone()


def run(bench) -> None:
    n = size()
    t0 = time.perf_counter()
    files = sky(n)
    gen = time.perf_counter() - t0
    from astropy.io import fits

    n_photons = sum(fits.getheader(f, 1)["NAXIS2"] for f in files)
    dsn, (packed_s, row_s) = ensure(bench, files, n_photons)
    scale = f"{n_photons:,} photons, {len(files)} exposures"
    with psycopg.connect(dsn) as conn:
        if packed_s:
            (wall, (client, server)), (rwall, rcpu) = packed_s, row_s or (None, None)
            cpu = client + server
            bench.row("photons", f"load rate, packed layout ({scale}; read FITS, pack, binary COPY, index)",
                      n_photons / wall, "photons/s", "≥ 1M photons/s", "row layout (binary COPY + Q3C index)",
                      n_photons / rwall if rwall else None, lower_is_better=False,
                      note=f"{wall:.0f} s wall; CPU {client:.0f} s client (read, pack) + {server:.0f} s server (COPY, "
                           f"index) = {n_photons / cpu / 1e6:.2f}M photons per CPU second"
                           + (f" (row layout {n_photons / rcpu.sum() / 1e6:.2f}M)" if rcpu is not None else
                              "; row layout reused from an earlier run, not reloaded"))
        heap, index, toast = sizes(conn, "xmm.photon_cell")
        rheap, rindex, rtoast = sizes(conn, "bench_row.photon")
        total, rtotal = (heap + index + toast) / n_photons, (rheap + rindex + rtoast) / n_photons
        bench.row("photons", f"bytes/photon, packed layout ({scale})", total, "B", "≤ 24 B",
                  "row layout", rtotal, note=f"packed heap {heap / n_photons:.2f} + index {index / n_photons:.2f} + "
                  f"TOAST {toast / n_photons:.2f}; rows heap {rheap / n_photons:.1f} + index {rindex / n_photons:.1f} + "
                  f"TOAST {rtoast / n_photons:.1f}")
        # 30" cones at the bright target of a field (sources are where queries go) and at random field points
        targets = conn.execute("SELECT ra_pnt, dec_pnt FROM xmm.exposure WHERE instrument = 'EPN'").fetchall()
        rng = random.Random(2)
        centres = []
        for ra, dec in targets:
            centres.append((ra, dec))
            d = rng.uniform(0, 12 / 60)
            th = rng.uniform(0, 2 * np.pi)
            centres.append(((ra + d * np.cos(th) / np.cos(np.radians(dec))) % 360, dec + d * np.sin(th)))
        # every event, as the row layout and the astropy readers below return them
        packed_q = "SELECT * FROM xmm.xmm_photons(%s, %s, %s, 0, 32767, NULL, NULL, '{\"all_events\": true}')"
        standard_q = "SELECT * FROM xmm.xmm_photons(%s, %s, %s, 0, 32767)"      # the default: SAS's selection
        row_q = ("SELECT * FROM bench_row.photon WHERE q3c_radial_query(ra, dec, %s, %s, %s)")

        def q(sql, radius):
            def go():
                ra, dec = rng.choice(centres)
                return conn.execute(sql, (ra, dec, radius), prepare=False).fetchall()
            return go

        for _ in range(30):
            q(packed_q, RADIUS)(), q(row_q, RADIUS / 3600)()
        counts = [len(q(packed_q, RADIUS)()) for _ in range(100)]
        p50, p95 = percentiles(timed(q(packed_q, RADIUS), 400))
        r50, r95 = percentiles(timed(q(row_q, RADIUS / 3600), 400))
        bench.row("photons", f'30" region query p50, packed layout (xmm_photons, all columns to the client; {scale})',
                  p50, "ms", "≤ 20 ms", "row layout, q3c_radial_query", r50,
                  note=f"p95 {p95:.1f} ms vs {r95:.1f} ms; {np.mean(counts):.0f} photons per cone (max {max(counts)})")
        s50, s95 = percentiles(timed(q(standard_q, RADIUS), 400))
        bench.row("photons", f'30" region query p50 with the standard event selection (the default; {scale})',
                  s50, "ms", "", "every event (all_events)", p50,
                  note=f"p95 {s95:.1f} ms vs {p95:.1f} ms: the cost of the PATTERN/FLAG predicate per photon")
        # the server's own time: every photon of the cone decoded and selected, nothing sent
        count_q, row_count_q = (sql.replace("*", "count(*)", 1) for sql in (packed_q, row_q))
        c50, c95 = percentiles(timed(q(count_q, RADIUS), 400))
        rc50, rc95 = percentiles(timed(q(row_count_q, RADIUS / 3600), 400))
        bench.row("photons", f'30" region query p95, server time (count(*) of xmm_photons: every photon decoded and '
                  f'selected, none sent; {scale})', c95, "ms", "≤ 50 ms", "row layout, q3c_radial_query, count(*)",
                  rc95, note=f"p50 {c50:.2f} ms vs {rc50:.2f} ms")
        deliver(bench, conn, files, centres, scale)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + packed_q % (centres[0][0], centres[0][1], RADIUS)))
        (WORK / "photons-explain.txt").write_text(plan + "\n")

        # astropy, as a user without the table works: every event file of the table (the all-time
        # question has no other answer), then two generous variants that first narrow the files
        pointing = {f: _pointing(f) for f in files}
        found = []

        def astropy_run(narrow):
            def go():
                ra, dec = rng.choice(centres)
                found.append((ra, dec, astropy_cone(narrow(ra, dec), ra, dec, RADIUS)))
            return go

        def near(ra, dec, where):
            return [f for f in files if _sep_deg(ra, dec, *where(f)) <= 16 / 60]

        cone = '30" region: xmm_photons p50 vs astropy reading + filtering the event files'
        a_all, _ = percentiles(timed(astropy_run(lambda ra, dec: files), 5))
        a_scan, _ = percentiles(timed(astropy_run(lambda ra, dec: near(ra, dec, _pointing)), 5))
        a_listed, _ = percentiles(timed(astropy_run(lambda ra, dec: near(ra, dec, pointing.get)), 12))
        for ra, dec, n_astropy in found:
            n = conn.execute(packed_q.replace("*", "count(*)", 1), (ra, dec, RADIUS)).fetchone()[0]
            assert n_astropy == n, f"astropy found {n_astropy} photons, xmm_photons {n} at ({ra}, {dec})"
        bench.row("photons", f"{cone} of the table", p50, "ms", "≥ 1000×",
                  f"astropy, all {len(files)} event files (memory-mapped X/Y, pixel box, exact distance)", a_all,
                  note="the all-time question answered from files; photon counts equal on every cone (asserted)"
                       + (f"; sky generated in {gen:.0f} s" if gen > 1 else ""))
        bench.row("photons", f"{cone}, narrowed by a header scan", p50, "ms", "",
                  "astropy: read every file's pointing, then only the files within 16′", a_scan)
        bench.row("photons", f"{cone}, list of covering files given", p50, "ms", "",
                  "astropy: only the files within 16′, their list given (an index the user must keep)", a_listed)


DELIVERED = "time, ra, dec"       # what a light curve or an image asks for


def deliver(bench, conn, files, centres, scale) -> None:
    """The brightest cones' photons (time, ra, dec) in a psycopg client's numpy arrays, binary
    transfer: xmm_photon_arrays against a row per photon (xmm_photons, the row table) and
    astropy reading the covering files. Rates are photons over the wall time of all cones."""
    from xmmdb_loader.arrays import register_numpy_arrays

    everything = "'{\"all_events\": true}'"
    counts = [(conn.execute(f"SELECT count(*) FROM xmm.xmm_photons(%s, %s, %s, 0, 32767, NULL, NULL, {everything})",
                            (ra, dec, RADIUS)).fetchone()[0], ra, dec) for ra, dec in centres]
    brightest = sorted(counts, reverse=True)[:10]
    total = sum(n for n, _, _ in brightest)
    numpy_cur, list_cur = conn.cursor(binary=True), conn.cursor(binary=True)
    register_numpy_arrays(numpy_cur)

    def arrays(cur):
        def go(ra, dec):
            rows = cur.execute(f"SELECT {DELIVERED} FROM xmm.xmm_photon_arrays(%s, %s, %s, 0, 32767, NULL, NULL,"
                               f" {everything})", (ra, dec, RADIUS)).fetchall()
            columns = [np.concatenate([np.asarray(r[i]) for r in rows]) for i in range(3)] if rows else [[]]
            return len(columns[0])
        return go

    def rows(sql, radius):
        def go(ra, dec):
            got = list_cur.execute(sql, (ra, dec, radius)).fetchall()
            columns = [np.array([r[i] for r in got]) for i in range(3)]
            return len(columns[0])
        return go

    pointing = {f: _pointing(f) for f in files}

    def astropy(ra, dec):
        return astropy_cone([f for f in files if _sep_deg(ra, dec, *pointing[f]) <= 16 / 60], ra, dec, RADIUS)

    def rate(fetch, check=True) -> float:
        fetch(*brightest[0][1:])                                   # warm
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for n, ra, dec in brightest:
                got = fetch(ra, dec)
                assert got == n or not check, (got, n, ra, dec)
            best = max(best, total / (time.perf_counter() - t0))
        return best

    ours = rate(arrays(numpy_cur))
    as_lists = rate(arrays(list_cur))
    def server_ms(sql) -> float:
        """The server's time a cone: everything computed, nothing sent (p50 of 3 passes)."""
        return percentiles(timed(lambda: [conn.execute(sql, (ra, dec, RADIUS)).fetchone() for _, ra, dec in brightest],
                                 3))[0] / len(brightest)

    server_arrays = server_ms(f"SELECT sum(n) FROM xmm.xmm_photon_arrays(%s, %s, %s, 0, 32767, NULL, NULL, {everything})")
    server_rows = server_ms(f"SELECT count(*) FROM xmm.xmm_photons(%s, %s, %s, 0, 32767, NULL, NULL, {everything})")
    metric = (f"photons delivered to a psycopg client ({DELIVERED}; binary, numpy), the 10 brightest 30\" cones "
              f"({brightest[-1][0]:,}–{brightest[0][0]:,} photons; {scale}): xmm_photon_arrays")
    note = (f"{total:,} photons; server time a cone {server_arrays:.1f} ms (xmm_photons {server_rows:.1f} ms); the "
            f"same arrays as psycopg's lists: {as_lists / 1e6:.2f}M photons/s")
    for alternative, value, extra in (
            ("a row per photon: xmm_photons, binary", rate(rows(
                f"SELECT {DELIVERED} FROM xmm.xmm_photons(%s, %s, %s, 0, 32767, NULL, NULL, {everything})", RADIUS)),
             note),
            ("the row table, q3c_radial_query, binary", rate(rows(
                f"SELECT {DELIVERED} FROM bench_row.photon WHERE q3c_radial_query(ra, dec, %s, %s, %s)",
                RADIUS / 3600), check=False), "Q3C's distance test, not the tangent plane's: counts may differ at the edge"),
            ("astropy: the files within 16′ (list given), memory-mapped, box + exact distance",
             rate(astropy), "astropy's photons counted, not kept; the same counts (asserted)")):
        bench.row("photons", metric, ours, "photons/s", "≥ 3M photons/s", alternative, value,
                  lower_is_better=False, note=extra)


def astropy_cone(paths, ra: float, dec: float, radius_arcsec: float) -> int:
    """Photons within radius of (ra, dec) in event files, done well with astropy: the
    file memory-mapped, the cone centre put in the file's sky pixels by astropy.wcs
    from the X/Y column keywords, a pixel box, then the exact distance in the box."""
    from astropy.io import fits
    from astropy.wcs import WCS

    n = 0
    for path in paths:
        with fits.open(path, memmap=True) as hdul:
            ev = hdul["EVENTS"]
            names = [c.upper() for c in ev.columns.names]
            wcs = WCS(ev.header, keysel=["pixel"], colsel=[names.index("X") + 1, names.index("Y") + 1])
            xc, yc = wcs.wcs_world2pix(ra, dec, 1)  # origin 1: X/Y are FITS pixel coordinates
            half = 1.01 * radius_arcsec / 3600 / abs(wcs.wcs.cdelt[0]) + 1
            x, y = ev.data["X"], ev.data["Y"]
            box = (np.abs(x - xc) <= half) & (np.abs(y - yc) <= half)
            if box.any():
                pra, pdec = wcs.wcs_pix2world(x[box], y[box], 1)
                n += int(np.count_nonzero(_sep_deg(pra, pdec, ra, dec) * 3600 <= radius_arcsec))
    return n


def _pointing(path) -> tuple[float, float]:
    from astropy.io import fits

    h = fits.getheader(path, "EVENTS")
    return h["RA_PNT"], h["DEC_PNT"]


def _sep_deg(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))
