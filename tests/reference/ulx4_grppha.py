"""Independent reference for the grouped fit of the real NGC 7793 ULX-4 pn spectrum.

What an astronomer does with grppha and XSPEC, written out with no xmmdb code
but the absorber (our validated phabs, tests/test_spectral_models.py):

1. grppha `group min 20`, written here in numpy: starting at the first channel,
   each group gathers consecutive good channels until it holds >= 20 counts; a
   last group that cannot reach 20 is bad (QUALITY 2); channels the file marks
   bad stay bad and out of every group.
2. The grouped file as XSPEC reads it, through Sherpa's own UI and reader
   (load_pha takes BACKFILE, ANCRFILE and RESPFILE from the header): bad
   channels ignored, then the energy filter 0.3-10 keV, which keeps or drops
   whole groups (any group reaching into the range is kept, as XSPEC and
   Sherpa both do with grouped data).
3. chi2 with XSPEC's variance (chi2xspecvar), background subtracted,
   phabs * Sherpa's powlaw1d (integrated over each bin, norm at 1 keV), Levenberg-Marquardt, covariance errors.

Run: python tests/reference/ulx4_grppha.py ../shared/data/spectra/ngc7793_ulx4_pn
It prints the JSON kept in tests/reference/ulx4_grppha.json.
"""

import json
import sys
from pathlib import Path

import numpy as np


def grppha_min(counts: np.ndarray, bad: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """(GROUPING, QUALITY) of grppha's `group min N`."""
    grouping = np.zeros(len(counts), np.int16)
    quality = np.where(bad, 5, 0).astype(np.int16)
    start, total = None, 0.0
    for i, (c, b) in enumerate(zip(counts, bad)):
        if b:
            if start is not None:     # a bad channel ends an open group: it cannot be completed
                quality[start:i][~bad[start:i]] = 2
                start, total = None, 0.0
            continue
        if start is None:
            start, total = i, 0.0
            grouping[i] = 1
        else:
            grouping[i] = -1
        total += c
        if total >= minimum:
            start = None
    if start is not None:             # the last group never reached the minimum
        quality[start:][~bad[start:]] = 2
    return grouping, quality


def main(folder: str) -> dict:
    import logging

    from astropy.io import fits
    from sherpa.astro import ui

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plpython"))
    from xmmdb.spectral.models import PhAbs      # the one xmmdb piece: the absorber

    logging.getLogger("sherpa").setLevel(logging.ERROR)
    spectrum = Path(folder) / "PN_spectrum_grp20.fits"
    with fits.open(spectrum) as hdul:
        table = hdul["SPECTRUM"].data
        counts = np.asarray(table["COUNTS"], float)
        bad = np.asarray(table["QUALITY"]) != 0
    grouping, quality = grppha_min(counts, bad, 20)

    ui.clean()
    ui.load_pha(1, str(spectrum))
    ui.ungroup(1)
    ui.set_grouping(1, grouping)
    ui.set_quality(1, quality)
    ui.group(1)
    ui.ignore_bad(1)
    ui.set_analysis(1, "energy")
    ui.notice(0.3, 10.0)
    ui.subtract(1)
    ui.set_stat("chi2xspecvar")
    ui.set_method("levmar")
    absorber = PhAbs("phabs")
    powerlaw = ui.create_model_component("powlaw1d", "pl")   # Sherpa's own, integrated over each bin
    powerlaw.ref = 1.0                                              # norm at 1 keV, as XSPEC's powerlaw
    ui.set_source(1, absorber * powerlaw)
    absorber.nH = 0.1
    powerlaw.gamma = 2.0
    powerlaw.ampl = 1e-4
    ui.fit(1)
    ui.covar(1)
    cov = ui.get_covar_results()
    fit = ui.get_fit_results()
    lo, hi = ui.get_data(1)._get_ebins(group=True)
    noticed = ui.get_data(1).get_noticed_channels()
    return {
        "how": "tests/reference/ulx4_grppha.py: numpy grppha 'group min 20' + Sherpa UI (file's BACKFILE/ANCRFILE/RESPFILE), "
               "0.3-10 keV whole groups, chi2xspecvar, background subtracted, phabs*powerlaw, levmar, covariance",
        "groups_total": int((grouping == 1).sum()),
        "incomplete_last_group_channels": int((quality == 2).sum()),
        "channels": [int(noticed[0]), int(noticed[-1])],
        "nbins": int(fit.numpoints), "dof": int(fit.dof), "stat": float(fit.statval),
        "params": {n: {"value": float(v), "sigma": float(h)}
                   for n, v, h in zip(cov.parnames, cov.parvals, cov.parmaxes)},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1]), indent=2))
