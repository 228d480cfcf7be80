"""OGIP event files (FITS) from a Selection: EVENTS plus one GTI extension per
exposure (GTI_<obs_id>_<instrument>_<exp_id>) and their union as STDGTI, the
name XMM tools and stingray look for. Keywords after OGIP/93-003 (timing) and
the XMM Data Files Handbook."""

from __future__ import annotations

import io
import time as _time

import numpy as np

from .. import __version__
from . import ephemeris
from .barycenter import MJDREF
from .select import Selection, merge_intervals, text

# column -> (FITS format, unit, comment); strings get their width from the data
COLUMNS = {
    "time": ("D", "s", "event time"),
    "ra": ("D", "deg", "right ascension (ICRS)"),
    "dec": ("D", "deg", "declination (ICRS)"),
    "x": ("J", "0.05 arcsec", "sky x of the observation"),
    "y": ("J", "0.05 arcsec", "sky y of the observation"),
    "pi": ("J", "eV", "pulse invariant (energy)"),
    "pattern": ("B", None, "event pattern"),
    "flag": ("J", None, "event flag"),
    "ccdnr": ("B", None, "CCD number"),
    "obs_id": ("A", None, "observation"),
    "instrument": ("A", None, "EPN, EMOS1, EMOS2"),
    "exp_id": ("A", None, "exposure"),
}
FITS_NAME = {"instrument": "INSTRUME"}


def _column(name: str, values: np.ndarray):
    from astropy.io import fits

    fmt, unit, _ = COLUMNS[name]
    if fmt == "A":
        values = text(values)
        fmt = f"{max(1, max((len(v) for v in values), default=1))}A"
    elif fmt in "BJ":
        values = np.nan_to_num(np.asarray(values, dtype=np.float64)).astype({"B": np.uint8, "J": np.int32}[fmt])
    return fits.Column(name=FITS_NAME.get(name, name.upper()), format=fmt, unit=unit, array=values)


def _time_keywords(hdr, sel: Selection, tstart: float, tstop: float) -> None:
    hdr["TELESCOP"] = ("XMM", "mission")
    insts = sorted({e.instrument for e in sel.exposures})
    hdr["INSTRUME"] = (insts[0] if len(insts) == 1 else "EPIC", ", ".join(insts)[:47])
    obs = sel.obs_ids
    hdr["OBS_ID"] = (obs[0] if len(obs) == 1 else "MULTIPLE", "observation" if len(obs) == 1 else
                     f"{len(obs)} observations, see the GTI extensions")
    hdr["MJDREFI"] = (int(MJDREF), "integer part of the reference MJD")
    hdr["MJDREFF"] = (MJDREF - int(MJDREF), "fractional part of the reference MJD")
    hdr["TIMEUNIT"] = ("s", "unit of the times")
    hdr["TIMEZERO"] = (0.0, "time offset")
    if sel.barycentred:
        hdr["TIMESYS"] = ("TDB", "times are barycentric dynamical time")
        hdr["TIMEREF"] = ("SOLARSYSTEM", "times refer to the solar-system barycentre")
        hdr["TASSIGN"] = ("SATELLITE", "where the times were assigned")
        hdr["PLEPHEM"] = (ephemeris.NAME, "solar-system ephemeris")
        kinds = sorted(set(sel.position.values()))
        hdr["BARY_POS"] = (kinds[0].upper() if len(kinds) == 1 else "MIXED",
                           "observer: ORBIT file or GEOCENTRE (~0.4 s off)")
    else:
        hdr["TIMESYS"] = ("TT", "terrestrial time")
        hdr["TIMEREF"] = ("LOCAL", "times at the spacecraft")
        hdr["TASSIGN"] = ("SATELLITE", "where the times were assigned")
    hdr["CLOCKAPP"] = (True, "clock corrections applied")
    hdr["TSTART"] = (tstart, "start of the first GTI")
    hdr["TSTOP"] = (tstop, "end of the last GTI")
    hdr["TELAPSE"] = (tstop - tstart, "TSTOP - TSTART")
    hdr["RA_OBJ"] = (sel.ra, "source RA (ICRS, deg)" + (": barycentring position" if sel.barycentred else ""))
    hdr["DEC_OBJ"] = (sel.dec, "source Dec (ICRS, deg)")
    hdr["RADECSYS"] = ("ICRS", "frame of RA_OBJ/DEC_OBJ and RA/DEC")
    hdr["EQUINOX"] = (2000.0, "equinox of the coordinates")


def event_file(sel: Selection) -> bytes:
    """The FITS file of a selection, as bytes."""
    from astropy.io import fits

    ph = sel.photons
    ustart, ustop = merge_intervals(np.concatenate([e.start for e in sel.exposures] or [[]]),
                                    np.concatenate([e.stop for e in sel.exposures] or [[]]))
    t = np.asarray(ph["time"], dtype=np.float64)
    tstart = float(min(ustart.min(), t.min())) if ustart.size else float(t.min())
    tstop = float(max(ustop.max(), t.max())) if ustop.size else float(t.max())

    primary = fits.PrimaryHDU()
    names = [n for n in COLUMNS if n in ph]
    events = fits.BinTableHDU.from_columns([_column(n, ph[n]) for n in names], name="EVENTS")
    hdrs = [primary.header, events.header]
    for hdr in hdrs:
        _time_keywords(hdr, sel, tstart, tstop)
        hdr["CREATOR"] = (f"xmmdb {__version__}", "xmm_extract_events")
        hdr["DATE"] = (_time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime()), "file creation date (UTC)")
    eh = events.header
    eh["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
    eh["HDUCLAS1"] = ("EVENTS", "extension contains events")
    eh["HDUCLAS2"] = ("ALL", "all events in the region")
    if sel.srcid is not None:
        eh["SRCID"] = (sel.srcid, "xmmdb source")
    eh["SRC_RAD"] = (sel.radius, "extraction radius (arcsec)")
    eh["ONTIME"] = (float(np.sum(ustop - ustart)), "union of the exposures' GTIs (s)")
    eh["NEXPOSUR"] = (len(sel.exposures), "exposures, one GTI extension each")
    for i, n in enumerate(names, 1):
        eh.comments[f"TTYPE{i}"] = COLUMNS[n][2]
    for note in sel.notes:
        eh.add_comment(note[:72])
    hdus = [primary, events]
    for e in sel.exposures:
        hdus.append(_gti(f"GTI_{e.obs_id}_{e.instrument}_{e.exp_id}", e.start, e.stop, sel, tstart, tstop,
                         obs_id=e.obs_id, instrument=e.instrument, exp_id=e.exp_id))
    hdus.append(_gti("STDGTI", ustart, ustop, sel, tstart, tstop))
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf, checksum=True)
    return buf.getvalue()


def _gti(name, start, stop, sel, tstart, tstop, obs_id=None, instrument=None, exp_id=None):
    from astropy.io import fits

    hdu = fits.BinTableHDU.from_columns([fits.Column("START", "D", unit="s", array=np.asarray(start)),
                                         fits.Column("STOP", "D", unit="s", array=np.asarray(stop))], name=name)
    h = hdu.header
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standards")
    h["HDUCLAS1"] = ("GTI", "good time intervals")
    h["HDUCLAS2"] = ("STANDARD", "")
    _time_keywords(h, sel, tstart, tstop)
    if obs_id is not None:
        h["OBS_ID"], h["INSTRUME"], h["EXP_ID"] = obs_id, instrument, exp_id
        h["ONTIME"] = (float(np.sum(np.asarray(stop) - np.asarray(start))), "sum of the GTIs (s)")
    else:
        h["ONTIME"] = (float(np.sum(np.asarray(stop) - np.asarray(start))), "union of all exposures' GTIs (s)")
    return hdu
