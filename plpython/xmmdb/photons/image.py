"""xmm_image: a counts image of all epochs around a position, as a FITS file (for JS9)."""

from __future__ import annotations

import io
import json

import numpy as np

from ..errors import XmmError
from .access import SELECTION_KEYS, fetch_photons
from .sky import project

OPTIONS = {"emin": float, "emax": float, "tmin": float, "tmax": float, "obs_id": str, "instrument": str,
           **{key: (lambda v: v) for key in SELECTION_KEYS}}     # the event selection: checked in SQL
MAX_PIXELS = 4096
MAX_SIZE_ARCMIN = 120.0     # a side: a whole EPIC field (30') and its surroundings


def parse_options(options) -> dict:
    if options is None or options == "":
        return {}
    opts = json.loads(options) if isinstance(options, str) else dict(options)
    if not isinstance(opts, dict):
        raise XmmError("xmm_image: options must be a JSON object", hint=f"known options: {', '.join(OPTIONS)}")
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise XmmError(f"xmm_image: unknown option(s) {', '.join(unknown)}", hint=f"known options: {', '.join(OPTIONS)}")
    try:
        return {k: OPTIONS[k](v) for k, v in opts.items() if v is not None}
    except (TypeError, ValueError):
        raise XmmError(f"xmm_image: bad option value in {json.dumps(opts)}",
                       hint="emin/emax in eV and tmin/tmax in TT s are numbers; obs_id and instrument are text") from None


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
    opts = parse_options(options)
    radius = size_arcmin * 60.0 / np.sqrt(2.0) + bin_arcsec
    ev = fetch_photons(db, ra, dec, radius, opts.get("emin", 200.0), opts.get("emax", 12000.0),
                       opts.get("tmin"), opts.get("tmax"), opts.get("obs_id"), options=opts)
    if "instrument" in opts:
        keep = ev["instrument"] == opts["instrument"].upper()
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
                 ("EMIN", opts.get("emin", 200.0)), ("EMAX", opts.get("emax", 12000.0)),
                 ("NEVENTS", int(img.sum())), ("NOBS", len(set(ev["obs_id"].tolist()))),
                 ("CREATOR", "xmmdb xmm_image")):
        h[k] = v
    if "obs_id" in opts:
        h["OBS_ID"] = opts["obs_id"]
    if "tmin" in opts or "tmax" in opts:
        h["TSTART"], h["TSTOP"] = opts.get("tmin", float(ev["time"].min()) if len(ev["time"]) else 0.0), \
            opts.get("tmax", float(ev["time"].max()) if len(ev["time"]) else 0.0)
    h["COMMENT"] = "Counts from all loaded XMM-Newton EPIC exposures (xmmdb); TAN projection about the centre"
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()
