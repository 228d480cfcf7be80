"""Stored spectra and responses as OGIP files again: what DataLink and the web pages hand
out, so that XSPEC, Sherpa or ISIS fit them elsewhere.

    spectrum_file(db, spectrum_id)  PHA type I (OGIP/92-007): SPECTRUM with CHANNEL, COUNTS,
                                    QUALITY, GROUPING, the header keywords the file came with,
                                    and BACKFILE/RESPFILE/ANCRFILE naming the files below
    response_file(db, response_id)  an RMF (MATRIX + EBOUNDS, CAL/GEN/92-002) or an ARF (SPECRESP)

The file names a spectrum gives its background and responses are those `file_name` makes
(xmmdb_spectrum_<id>.fits, xmmdb_response_<id>.fits): saved side by side under those names,
a spectrum loads with everything it needs.
"""

from __future__ import annotations

import io
import json

import numpy as np

from ..errors import NotFound
from .responses import Arf, Rmf, response

# Keywords a stored header may carry that the writer sets itself (structure, links).
_OWN = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "TFIELDS",
        "EXTNAME", "EXPOSURE", "BACKSCAL", "AREASCAL", "BACKFILE", "RESPFILE", "ANCRFILE", "CORRFILE", "DETCHANS",
        "POISSERR", "HDUCLASS", "HDUCLAS1", "HDUCLAS2", "HDUCLAS3", "HDUVERS", "CHECKSUM", "DATASUM"}


def file_name(kind: str, ident: int | None) -> str:
    """The name a spectrum or response is handed out as (and named by in a spectrum's header)."""
    return "NONE" if ident is None else f"xmmdb_{kind}_{int(ident)}.fits"


def _bytes(hdus) -> bytes:
    from astropy.io import fits

    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), *hdus]).writeto(out, checksum=True)
    return out.getvalue()


def spectrum_file(db, spectrum_id: int) -> bytes:
    from astropy.io import fits

    rows = db.query("SELECT * FROM xmm.spectrum WHERE spectrum_id = $1", (spectrum_id,), ("bigint",))
    if not rows:
        raise NotFound(f"spectrum {spectrum_id} does not exist")
    r = rows[0]
    counts = np.asarray(r["counts"], float)
    integral = np.all(counts == np.round(counts)) and np.all(np.abs(counts) < 2**31)
    channel = np.arange(counts.size, dtype=np.int32) + int(r["channel_first"])
    cols = [fits.Column("CHANNEL", "J", array=channel),
            fits.Column("COUNTS", "J" if integral else "D", unit="count",
                        array=counts.astype(np.int32) if integral else counts)]
    for name in ("quality", "grouping"):
        if r[name] is not None:
            cols.append(fits.Column(name.upper(), "I", array=np.asarray(r[name], np.int16)))
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    h = hdu.header
    header = json.loads(r["header"]) if isinstance(r["header"], str) else (r["header"] or {})
    for key, value in header.items():
        if key.upper() not in _OWN and len(key) <= 8 and isinstance(value, (str, int, float, bool)):
            h[key.upper()] = value
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUVERS"] = "OGIP", "SPECTRUM", "1.2.1"
    h["HDUCLAS2"] = "TOTAL" if r["kind"] == "source" else "BKG"
    h["HDUCLAS3"] = "COUNT"
    h.setdefault("TELESCOP", "XMM")
    h["INSTRUME"] = r["instrument"]
    h.setdefault("CHANTYPE", "PI")
    h["EXPOSURE"] = (float(r["exposure"]), "[s] exposure")
    h["BACKSCAL"], h["AREASCAL"] = float(r["backscal"]), float(r["areascal"])
    h["DETCHANS"] = int(r["detchans"] or counts.size)
    h["TLMIN1"], h["TLMAX1"] = int(channel[0]), int(channel[-1])
    h["POISSERR"] = True
    h["BACKFILE"] = file_name("spectrum", r["background_id"])
    h["RESPFILE"] = file_name("response", r["rmf_id"])
    h["ANCRFILE"] = file_name("response", r["arf_id"])
    h["CORRFILE"] = "NONE"
    if r["obs_id"]:
        h["OBS_ID"] = r["obs_id"]
    h["XMMDB_ID"] = (int(spectrum_id), "spectrum_id in the xmmdb archive")
    h["XMMDB_FN"] = (r["file"][:68], "the file it was loaded from")
    return _bytes([hdu])


def _ogip(h, clas2: str, instrument: str | None, version: str) -> None:
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"], h["HDUVERS"] = "OGIP", "RESPONSE", clas2, version
    h["TELESCOP"] = "XMM"
    if instrument:
        h["INSTRUME"] = instrument


def response_file(db, response_id: int) -> bytes:
    from astropy.io import fits

    obj = response(db, response_id)
    instrument = db.query("SELECT instrument FROM xmm.response WHERE response_id = $1", (response_id,),
                          ("bigint",))[0]["instrument"]
    energies = [fits.Column("ENERG_LO", "E", unit="keV", array=obj.energ_lo),
                fits.Column("ENERG_HI", "E", unit="keV", array=obj.energ_hi)]
    if isinstance(obj, Arf):
        hdu = fits.BinTableHDU.from_columns(energies + [fits.Column("SPECRESP", "E", unit="cm**2",
                                                                    array=obj.specresp)], name="SPECRESP")
        _ogip(hdu.header, "SPECRESP", instrument, "1.1.0")
        return _bytes([hdu])
    assert isinstance(obj, Rmf)
    # The compressed rows back to one row per energy: groups (first channel, width), then values.
    groups = np.concatenate([[0], np.cumsum(obj.n_grp)])
    values = np.concatenate([[0], np.cumsum(obj.n_chan)])
    f_chan = [obj.f_chan[groups[i]:groups[i + 1]].astype(np.int32) for i in range(obj.n_grp.size)]
    n_chan = [obj.n_chan[groups[i]:groups[i + 1]].astype(np.int32) for i in range(obj.n_grp.size)]
    matrix = [obj.matrix[values[groups[i]]:values[groups[i + 1]]].astype(np.float32) for i in range(obj.n_grp.size)]
    hdu = fits.BinTableHDU.from_columns(energies + [
        fits.Column("N_GRP", "I", array=obj.n_grp.astype(np.int16)),
        fits.Column("F_CHAN", "PJ()", array=f_chan), fits.Column("N_CHAN", "PJ()", array=n_chan),
        fits.Column("MATRIX", "PE()", array=matrix)], name="MATRIX")
    _ogip(hdu.header, "RSP_MATRIX", instrument, "1.3.0")
    hdu.header["DETCHANS"], hdu.header["CHANTYPE"] = obj.detchans, "PI"
    hdu.header["TLMIN4"], hdu.header["TLMAX4"] = obj.offset, obj.offset + obj.detchans - 1
    hdu.header["LO_THRES"] = 0.0
    ebounds = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "J", array=np.arange(obj.detchans, dtype=np.int32) + obj.offset),
        fits.Column("E_MIN", "E", unit="keV", array=obj.e_min), fits.Column("E_MAX", "E", unit="keV", array=obj.e_max)],
        name="EBOUNDS")
    _ogip(ebounds.header, "EBOUNDS", instrument, "1.2.0")
    ebounds.header["DETCHANS"], ebounds.header["CHANTYPE"] = obj.detchans, "PI"
    return _bytes([hdu, ebounds])
