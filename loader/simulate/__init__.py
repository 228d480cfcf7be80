"""The sample sky: simulated XMM-Newton products in the archive's own formats.

One module per product type; `write_sample` runs them in order with one seed,
so the bundled sample (data/sample) is reproducible: `make sample`.

    catalog.py   4XMM catalogue + observation list (+ truth: every source, every epoch)
    events.py    EPIC event lists and orbit files (+ truth/events.json: pulsar, variable sources)
    spectra.py   EPIC pipeline spectra, backgrounds, ARFs and canned RMFs of the brightest detections
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import catalog, events, spectra


def write_sample(out: Path, seed: int = 20141123, n_sources: int | None = None) -> None:
    rng = np.random.default_rng(seed)
    cat, obslist, truth, epochs = catalog.write_catalog(out, rng, n_sources)
    events.write_events(out, seed, obslist, truth, epochs)
    n_spectra = spectra.write_spectra(out, cat, epochs, truth, seed) if n_sources is None else 0
    print(f"simulate: {len(np.unique(cat['SRCID']))} sources ({len(truth)} true), {len(cat)} detections, {len(obslist)} observations, "
          f"{n_spectra} spectra -> {out}",
          file=sys.stderr)
