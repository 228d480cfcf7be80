"""The sample sky: simulated XMM-Newton products in the archive's own formats.

One module per product type; `write_sample` runs them in order with one seed,
so the bundled sample (data/sample) is reproducible: `make sample`.

    catalogue.py 4XMM catalogue + observation list (+ truth: every source, every epoch)
    events.py    EPIC event lists and orbit files (+ truth/events.json: pulsar, variable sources)
    expmaps.py   EPIC exposure maps of the event lists' exposures, five bands (written by events.py)
    classes/     the planted objects as a catalogue of known objects (pulsar, ULXs, extended, variables)
    spectra.py   EPIC pipeline spectra, backgrounds, ARFs and canned RMFs of the brightest detections
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import catalogue, events, spectra


def write_sample(out: Path, seed: int = 20141123, n_sources: int | None = None) -> None:
    rng = np.random.default_rng(seed)
    cat, obslist, truth, epochs = catalogue.write_catalogue(out, rng, n_sources)
    planted = events.write_events(out, seed, obslist, truth, epochs)
    write_classes(out, truth, planted)
    n_spectra = spectra.write_spectra(out, cat, epochs, truth, seed) if n_sources is None else 0
    print(f"simulate: {len(np.unique(cat['SRCID']))} sources ({len(truth)} true), {len(cat)} detections, {len(obslist)} observations, "
          f"{n_spectra} spectra -> {out}",
          file=sys.stderr)


def write_classes(out: Path, truth, planted: dict) -> None:
    """classes/sample_classes.csv: the planted objects as a catalogue of known objects
    (`xmmdb load classes`): the pulsar, the ULXs, the extended sources, the variables."""
    rows = []
    srcid, primary = np.asarray(truth["SRCID"]), np.asarray(truth["PRIMARY"])
    for k in np.flatnonzero(np.asarray(truth["IS_ULX"]) & primary & (srcid > 0)):
        rows.append((f"ULX {k + 1}", float(truth["RA"][k]), float(truth["DEC"][k]), "ulx"))
    for k in np.flatnonzero((np.asarray(truth["EXTENT"], float) > 0) & primary & (srcid > 0)):
        rows.append((f"EXTENDED {k + 1}", float(truth["RA"][k]), float(truth["DEC"][k]), "cluster"))
    p = planted["pulsar"]
    rows.append(("PULSAR 1.2 S", p["ra"], p["dec"], "pulsar"))
    ra_of = dict(zip(srcid[primary].tolist(), np.asarray(truth["RA"], float)[primary].tolist()))
    dec_of = dict(zip(srcid[primary].tolist(), np.asarray(truth["DEC"], float)[primary].tolist()))
    for v in planted["variables"]:
        rows.append((f"VARIABLE {v['srcid']}", ra_of[v["srcid"]], dec_of[v["srcid"]], "variable"))
    (out / "classes").mkdir(parents=True, exist_ok=True)
    lines = ["name,ra,dec,class"] + [f"{n},{r:.7f},{d:.7f},{c}" for n, r, d, c in rows]
    (out / "classes" / "sample_classes.csv").write_text("\n".join(lines) + "\n")
