"""`xmmdb load catalogue FILE…`: 4XMM catalogue and observation-list files.

All files of one call load in one transaction: either every file is in, or
none is and the database is as it was.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from .progress import phase
from .staging import LoadError, copy_into_stage, database_error, read_table


def file_format(tf) -> str:
    """A catalogue has DETID and SRCID; an observation list has a pointing."""
    cols = tf.columns
    if "detid" in cols or "srcid" in cols:
        return "catalogue"
    if "ra_pnt" in cols or "obs_id" in cols and "src_num" not in cols:
        return "observation_list"
    raise LoadError(f"{tf.path.name}: not a 4XMM catalogue (no DETID/SRCID columns) "
                    f"nor an observation list (no OBS_ID/RA_PNT columns)")


def moves(conn: psycopg.Connection, stage: str, present: list[str]) -> dict:
    """Sources of the staged catalogue already stored more than 1" away, and detections stored with
    another observation or source: a new release may refine them, but the user is told."""
    out = {"sources": 0, "first_source": None, "detections": 0, "first_detection": None}
    if {"srcid", "sc_ra", "sc_dec"} <= set(present):
        out["sources"], out["first_source"] = conn.execute(
            f"SELECT count(DISTINCT s.srcid), min(s.srcid) FROM {stage} s JOIN xmm.source o ON o.srcid = s.srcid"
            f" WHERE q3c_dist(o.sc_ra, o.sc_dec, s.sc_ra, s.sc_dec) > 1 / 3600.0").fetchone()
    if {"detid", "obs_id", "srcid"} <= set(present):
        out["detections"], out["first_detection"] = conn.execute(
            f"SELECT count(*), min(s.detid) FROM {stage} s JOIN xmm.detection d ON d.detid = s.detid"
            f" WHERE d.obs_id <> s.obs_id OR d.srcid <> s.srcid").fetchone()
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_catalogue(conn: psycopg.Connection, paths: list[Path], progress: bool = True, out=None) -> dict:
    """Loads catalogue files; returns {table: {inserted, updated, unchanged}} summed over files."""
    out = out or sys.stderr
    tables = [read_table(Path(p)) for p in paths]
    # Observation lists first: the catalogue then finds its observations' pointings.
    tables.sort(key=lambda tf: file_format(tf) != "observation_list")
    totals: dict[str, dict[str, int]] = {}
    with conn.transaction():
        for tf in tables:
            fmt = file_format(tf)
            stage = conn.execute("SELECT xmm.stage(%s)", (fmt,)).fetchone()[0]
            present = copy_into_stage(conn, stage, tf, progress)
            moved = moves(conn, stage, present) if fmt == "catalogue" else {}
            with phase(f"{tf.path.name}: validate and upsert in the database", tf.n_rows, tick=progress, out=out):
                try:
                    with conn.transaction():
                        rows = conn.execute(f"SELECT * FROM xmm.ingest_{fmt}(%s, %s)",
                                            (tf.path.name, present)).fetchall()
                except (psycopg.errors.IntegrityError, psycopg.errors.ProgramLimitExceeded) as exc:
                    if (exc.diag.message_primary or "").startswith(tf.path.name):
                        raise                           # the ingest's own check: already in the file's terms
                    raise database_error(tf, exc) from None
            summary = {t: {"inserted": i, "updated": u, "unchanged": n} for t, i, u, n in rows}
            if any(moved.values()):
                print(f"{tf.path.name}: warning: this file moves {moved['sources']} source(s) by more than 1\" "
                      f"(e.g. srcid {moved['first_source']}) and gives {moved['detections']} detection(s) another "
                      f"observation or source (e.g. detid {moved['first_detection']})", file=out)
            logged = {**summary, "moved": moved} if any(moved.values()) else summary
            conn.execute("INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary) VALUES (%s, %s, %s, %s, %s)",
                         (fmt, str(tf.path), sha256(tf.path), tf.n_rows, Jsonb(logged)))
            print(f"{tf.path.name}: {fmt}, {tf.n_rows} rows: " + "; ".join(
                f"{t} +{s['inserted']} ~{s['updated']} ={s['unchanged']}" for t, s in summary.items()), file=out)
            for t, s in summary.items():
                for k, v in s.items():
                    totals.setdefault(t, {}).setdefault(k, 0)
                    totals[t][k] += v
        if any(s["inserted"] or s["updated"] for s in totals.values()):
            with phase("catalogue: reorder by sky position (CLUSTER)", sum(tf.n_rows for tf in tables),
                       tick=progress, out=out):
                conn.execute("SELECT xmm.recluster()")
    return totals
