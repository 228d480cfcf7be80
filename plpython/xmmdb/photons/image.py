"""xmm_image: a counts image of all epochs around a position, as a FITS file (for JS9)."""

from __future__ import annotations

import io

import numpy as np

from ..errors import XmmError
from ..options import CAMERA, CHECKED_IN_SQL, NUMBER, TEXT, parse
from .access import SELECTION_KEYS, fetch_positions, selection
from .sky import project

OPTIONS = {"emin": (NUMBER, 200.0), "emax": (NUMBER, 12000.0), "tmin": (NUMBER, None), "tmax": (NUMBER, None),
           "obs_id": (TEXT, None), "instrument": (CAMERA, None),
           **{key: (CHECKED_IN_SQL, None) for key in SELECTION_KEYS}}     # the event selection: checked in SQL
MAX_PIXELS = 4096
MAX_SIZE_ARCMIN = 120.0     # a side: a whole EPIC field (30') and its surroundings


def counts_image(db, ra: float, dec: float, size_arcmin: float, bin_arcsec: float, options=None) -> bytes:
    """FITS (bytes): counts in bin_arcsec pixels over a size_arcmin square centred on (ra, dec),
    on a TAN projection about that centre, from every loaded exposure (options: emin, emax,
    tmin, tmax, obs_id, instrument)."""
    from astropy.io import fits

    if not all(v is not None and np.isfinite(v) for v in (ra, dec, size_arcmin, bin_arcsec)):
        raise XmmError("xmm_image: ra, dec, size_arcmin and bin_arcsec must be finite numbers")
    if not (size_arcmin > 0 and bin_arcsec > 0):
        raise XmmError("xmm_image: size_arcmin and bin_arcsec must be positive")
    if not (-90 <= dec <= 90):
        raise XmmError(f"xmm_image: declination {dec} is not in [-90, 90]")
    if size_arcmin > MAX_SIZE_ARCMIN:
        raise XmmError(f"xmm_image: {size_arcmin:g}' a side; an image is at most {MAX_SIZE_ARCMIN:g}'",
                       sqlstate="54000")
    n = int(round(size_arcmin * 60.0 / bin_arcsec))
    if not 1 <= n <= MAX_PIXELS:
        raise XmmError(f"xmm_image: {size_arcmin}' in {bin_arcsec}\" pixels makes {n} pixels a side",
                       hint=f"at most {MAX_PIXELS}: use larger bins")
    opts = parse(options, OPTIONS, "xmm_image")
    radius = size_arcmin * 60.0 / np.sqrt(2.0) + bin_arcsec
    # positions only, grouped by exposure: no per-photon text, no sort by time
    ev = fetch_positions(db, ra, dec, radius, opts["emin"], opts["emax"], opts["obs_id"], options=opts,
                         tmin=opts["tmin"], tmax=opts["tmax"])
    if opts["instrument"] is not None:
        keep = ev["instrument"] == opts["instrument"]
        ev = {k: v[keep] for k, v in ev.items()}
    xi, eta = (np.degrees(v) * 3600.0 for v in project(ra, dec, ev["ra"], ev["dec"]))
    half = n * bin_arcsec / 2.0
    img, _, _ = np.histogram2d(eta, -xi, bins=n, range=[[-half, half], [-half, half]])
    hdu = fits.PrimaryHDU(img.astype(np.int32))
    h = hdu.header
    for k, v in (("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRPIX1", (n + 1) / 2.0), ("CRPIX2", (n + 1) / 2.0),
                 ("CRVAL1", float(ra)), ("CRVAL2", float(dec)), ("CDELT1", -bin_arcsec / 3600.0),
                 ("CDELT2", bin_arcsec / 3600.0), ("CUNIT1", "deg"), ("CUNIT2", "deg"), ("RADESYS", "ICRS"),
                 ("EQUINOX", 2000.0), ("BUNIT", "count"), ("TELESCOP", "XMM"), ("INSTRUME", "EPIC"),
                 ("EMIN", opts["emin"]), ("EMAX", opts["emax"]),
                 ("NEVENTS", int(img.sum())), ("NOBS", len(np.unique(ev["obs_id"]))),
                 ("CREATOR", "xmmdb xmm_image")):
        h[k] = v
    if opts["obs_id"] is not None:
        h["OBS_ID"] = opts["obs_id"]
    if opts["tmin"] is not None or opts["tmax"] is not None:
        first, last = time_span(db, ra, dec, radius, opts) if None in (opts["tmin"], opts["tmax"]) else (0.0, 0.0)
        h["TSTART"] = first if opts["tmin"] is None else opts["tmin"]
        h["TSTOP"] = last if opts["tmax"] is None else opts["tmax"]
    h["COMMENT"] = "Counts from all loaded XMM-Newton EPIC exposures (xmmdb); TAN projection about the centre"
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def time_span(db, ra: float, dec: float, radius: float, opts: dict) -> tuple[float, float]:
    """First and last photon time (TT s) of the image's photons (0, 0 when there are none)."""
    row = db.query("SELECT min(time) AS first, max(time) AS last"
                   " FROM xmm.xmm_photons($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"
                   " WHERE obs_id = coalesce($9, obs_id) AND instrument = coalesce($10, instrument)",
                   (float(ra), float(dec), float(radius), float(opts["emin"]), float(opts["emax"]),
                    None if opts["tmin"] is None else float(opts["tmin"]),
                    None if opts["tmax"] is None else float(opts["tmax"]), selection(opts), opts["obs_id"], opts["instrument"]),
                   ("float8", "float8", "float8", "float8", "float8", "float8", "float8", "text", "text", "text"))[0]
    return (float(row["first"]), float(row["last"])) if row["first"] is not None else (0.0, 0.0)
