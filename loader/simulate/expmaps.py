"""Exposure maps of the simulated event lists, as the pipeline names them:
expmaps/P<obsid><PN|M1><S…>EXPMAP<band>000.FTZ, one per standard band (1-5), gzip
and byte-reproducible like the event lists.

A pixel holds the on-time of the CCD its centre lies on (the union of that CCD's
GTIs, the CCDs placed as the events place photons on them) times the simulator's
vignetting at its off-axis angle, and 0 outside the 15' field of view: the
exposure the events were drawn with, so that photometry on the sample divides
by exactly what made the counts. That vignetting does not depend on energy, so
the five bands hold the same values. Nothing here draws a random number: a map
follows from the exposure's GTIs alone, and the sample's other files stay as
they are.

The grid: a TAN projection about the pointing, north up, east left, 12"
pixels, 160 on a side (the 30' field and 1' of margin around it). The side is
even, so the pointing falls on a pixel corner and no pixel centre lies on a CCD
edge, where a rounding would choose the CCD.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xmmdb.instruments import BANDS
from xmmdb.photons.psf import vignetting
from xmmdb.photons.sky import deproject, offsets

from .events import Camera, _gzip, ccd_of

PIXEL_ARCSEC = 12.0
SIDE = 160
MAP_BANDS = (1, 2, 3, 4, 5)


def ontime(gtis) -> float:
    """Seconds covered by a list of [start, stop] intervals (their union: overlaps count once)."""
    total, end = 0.0, -np.inf
    for start, stop in sorted((float(a), float(b)) for a, b in gtis):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def exposure_map(camera: Camera, ra_pnt: float, dec_pnt: float, gtis: dict) -> tuple[np.ndarray, float]:
    """The map's pixels (float32, [y, x] as FITS stores them) and its reference pixel (CRPIX1 = CRPIX2).
    `gtis`: {ccdnr: [[start, stop], ...]} of the exposure."""
    crpix = (SIDE + 1) / 2.0
    step = np.radians(PIXEL_ARCSEC / 3600.0)
    p = np.arange(1, SIDE + 1) - crpix
    xi, eta = np.meshgrid(-p * step, p * step)          # east grows to the left (CDELT1 < 0)
    ra, dec = deproject(ra_pnt, dec_pnt, xi, eta)
    east, north = offsets(ra_pnt, dec_pnt, ra, dec)     # arcsec, as the events' photons are placed
    off = np.hypot(east, north) / 60.0
    on = np.zeros(camera.n_ccd + 1)
    for ccd, g in gtis.items():
        on[int(ccd)] = ontime(g)
    value = on[ccd_of(camera, east / 60.0, north / 60.0)] * vignetting(off)   # inside the field only
    return value.astype(np.float32), crpix


def write_expmaps(out: Path, camera: Camera, obs_id: str, exp_id: str, target: str, ra_pnt: float, dec_pnt: float,
                  gtis: dict, filt: str = "Medium") -> list[str]:
    """Writes out/expmaps/*EXPMAP<band>000.FTZ of one exposure; returns the file names."""
    from astropy.io import fits

    image, crpix = exposure_map(camera, ra_pnt, dec_pnt, gtis)
    exposure = max((ontime(g) for g in gtis.values()), default=0.0)
    folder = Path(out) / "expmaps"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for band in MAP_BANDS:
        hdu = fits.PrimaryHDU(image)
        h = hdu.header
        for key, value, comment in (
                ("TELESCOP", "XMM", None), ("INSTRUME", camera.instrument, None), ("OBS_ID", obs_id, None),
                ("EXP_ID", f"{obs_id}{exp_id[1:]}", None), ("EXPIDSTR", exp_id, None), ("OBJECT", target, None),
                ("FILTER", filt, None), ("CONTENT", "EPIC EXPOSURE MAP", None),
                ("CTYPE1", "RA---TAN", None), ("CTYPE2", "DEC--TAN", None),
                ("CRPIX1", crpix, None), ("CRPIX2", crpix, None),
                ("CRVAL1", ra_pnt, "deg, the pointing"), ("CRVAL2", dec_pnt, "deg, the pointing"),
                ("CDELT1", -PIXEL_ARCSEC / 3600.0, "deg/pixel"), ("CDELT2", PIXEL_ARCSEC / 3600.0, "deg/pixel"),
                ("CUNIT1", "deg", None), ("CUNIT2", "deg", None), ("BUNIT", "s", None),
                ("EXPOSURE", exposure, "s, the longest CCD on-time"),
                ("PI_MIN", int(BANDS[band][0]), "eV, the band's lower edge"),
                ("PI_MAX", int(BANDS[band][1]), "eV, the band's upper edge"),
                ("CREATOR", "xmmdb simulate", None)):
            h[key] = (value, comment) if comment else value
        name = f"P{obs_id}{camera.tag}{exp_id}EXPMAP{band}000.FTZ"
        (folder / name).write_bytes(_gzip(fits.HDUList([hdu])))
        written.append(name)
    return written
