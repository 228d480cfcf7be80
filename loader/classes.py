"""`xmmdb load classes FILE…`: catalogues of known objects, whose classes the
sources within a match radius take (sql/61_source_class.sql).

A file is a table (FITS, CSV or VOTable) with the columns NAME, RA, DEC (deg,
ICRS) and CLASS, and optionally RADIUS (arcsec, per object; default 10"); its
catalogue name is the file's name without extensions unless a CATALOGUE column
says otherwise. All files of one call are one transaction.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import psycopg

from .staging import LoadError, read_table

DEFAULT_RADIUS_ARCSEC = 10.0
CLASS = re.compile(r"^[a-z0-9][a-z0-9 _+/-]{0,63}$")


def _objects(path: Path):
    tf = read_table(path)
    missing = [c.upper() for c in ("name", "ra", "dec", "class") if c not in tf.columns]
    if missing:
        raise LoadError(f"{path.name}: no column {', '.join(missing)} (a catalogue of known objects has NAME, RA, "
                        "DEC and CLASS); nothing was written")
    for c in ("ra", "dec"):
        unit = tf.units.get(c)
        if unit not in (None, "deg"):
            raise LoadError(f"{path.name}: column {c.upper()} is in {unit}, not deg; nothing was written")
    names = [str(v).strip() for v in tf.columns["name"]]
    classes = [str(v).strip().lower() for v in tf.columns["class"]]
    catalogue = (str(tf.columns["catalogue"][0]).strip() if "catalogue" in tf.columns
                 else path.name.split(".")[0])
    radius = (np.asarray(tf.columns["radius"], float) if "radius" in tf.columns
              else np.full(tf.n_rows, DEFAULT_RADIUS_ARCSEC))
    ra, dec = np.asarray(tf.columns["ra"], float), np.asarray(tf.columns["dec"], float)
    for i in range(tf.n_rows):
        row = i + 1
        if not names[i] or len(names[i]) > 200:
            raise LoadError(f"{path.name}: column NAME in row {row} is empty or longer than 200 characters; "
                            "nothing was written")
        if not CLASS.match(classes[i]):
            raise LoadError(f"{path.name}: column CLASS value {classes[i]!r} in row {row} is not a class (lower-case "
                            "letters, digits, space, _ + / -, at most 64); nothing was written")
        if not (math.isfinite(ra[i]) and 0 <= ra[i] < 360):
            raise LoadError(f"{path.name}: column RA value {ra[i]} in row {row} is outside 0..360 deg; "
                            "nothing was written")
        if not (math.isfinite(dec[i]) and -90 <= dec[i] <= 90):
            raise LoadError(f"{path.name}: column DEC value {dec[i]} in row {row} is outside -90..90 deg; "
                            "nothing was written")
        if not (math.isfinite(radius[i]) and 0 < radius[i] <= 600):
            raise LoadError(f"{path.name}: column RADIUS value {radius[i]} in row {row} is outside 0..600 arcsec; "
                            "nothing was written")
    return catalogue, names, ra, dec, classes, radius


def load_classes(conn: psycopg.Connection, paths: list[Path], progress: bool = True, out=None) -> dict:
    """Loads catalogues of known objects; returns {"source_class": {inserted, updated, unchanged}}."""
    out = out or sys.stderr
    read = [(Path(p), *_objects(Path(p))) for p in paths]
    totals = {"source_class": {"inserted": 0, "updated": 0, "unchanged": 0}}
    rows_of = "SELECT srcid, class, name, separation FROM xmm.source_class WHERE catalogue = %s"
    try:
        with conn.transaction():
            for path, catalogue, names, ra, dec, classes, radius in read:
                before = set(conn.execute(rows_of, (catalogue,)).fetchall())
                objects, matched, stored = conn.execute(
                    "SELECT * FROM xmm.classify(%s, %s, %s, %s, %s, %s)",
                    (catalogue, names, ra.tolist(), dec.tolist(), classes, radius.tolist())).fetchone()
                after = set(conn.execute(rows_of, (catalogue,)).fetchall())
                totals["source_class"]["unchanged"] += len(before & after)
                totals["source_class"]["inserted"] += len(after - before)
                print(f"{path.name}: catalogue {catalogue!r}, {objects} objects, {matched} matched a source: "
                      f"source_class {stored} rows", file=out)
    except psycopg.Error as exc:
        raise LoadError(f"{', '.join(p.name for p, *_ in read)}: the database refused the objects "
                        f"({exc.diag.message_primary}); nothing was written") from None
    return totals
