"""Reading OGIP spectral files (PHA type I, ARF, RMF) into arrays.

Used by the loader (`xmmdb load products|responses`) and by tests and the
benchmark; errors name the file and the column or keyword.

Pipeline (PPS) file names: P<obsid><inst><S|U><exp><TYPE><src>.FTZ, e.g.
P0693760101PNS001SRSPEC0003.FTZ, with TYPE SRSPEC (source spectrum), BGSPEC
(background spectrum) or SRCARF (ARF) and the source number in hexadecimal.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmmdb.errors import XmmError
from xmmdb.instruments import camera
from xmmdb.spectral.fit import Pha
from xmmdb.spectral.responses import Arf, Rmf

PIPELINE = re.compile(r"^P(?P<obs_id>\d{10})(?P<inst>PN|M1|M2)(?P<sched>[SU])(?P<expno>\d{3})"
                      r"(?P<type>SRSPEC|BGSPEC|SRCARF)(?P<src>[0-9A-F]{4})\.(FTZ|FIT|FITS|FTS)(\.GZ)?$", re.I)


def pipeline_name(name: str) -> dict | None:
    m = PIPELINE.match(name)
    if not m:
        return None
    d = m.groupdict()
    return {"obs_id": d["obs_id"], "instrument": camera(d["inst"]), "exp_id": f"{d['sched'].upper()}{d['expno']}",
            "type": d["type"].upper(), "src_num": int(d["src"], 16)}


def _readable(reader):
    """Any failure while reading (truncated data, corrupt tables) becomes an XmmError naming the file."""
    import functools

    @functools.wraps(reader)
    def wrapper(path):
        try:
            return reader(path)
        except XmmError:
            raise
        except Exception as exc:
            raise XmmError(f"{Path(path).name}: cannot read the file (truncated or corrupt?): "
                           f"{type(exc).__name__}: {exc}") from None
    return wrapper


def _open(path: Path):
    from astropy.io import fits

    if not path.is_file():
        raise XmmError(f"{path.name}: no such file ({path.parent})")
    try:
        return fits.open(path, memmap=False)
    except Exception as exc:
        raise XmmError(f"{path.name}: cannot read the file: {exc}") from None


def _hdu(hdul, path: Path, names: tuple[str, ...], hduclas: tuple[str, ...] = ()):
    for h in hdul[1:]:
        if h.name.upper() in names or (hduclas and str(h.header.get("HDUCLAS1", "")).upper() in hduclas
                                       and h.name.upper() not in ("EBOUNDS",)):
            return h
    raise XmmError(f"{path.name}: no {names[0]} extension (HDUs: {', '.join(h.name or '?' for h in hdul)})")


def _column(hdu, path: Path, name: str, required: bool = True):
    names = [c.upper() for c in hdu.columns.names]
    if name.upper() not in names:
        if required:
            raise XmmError(f"{path.name}: extension {hdu.name}: required column {name} is missing "
                           f"(columns: {', '.join(names)})")
        return None
    return np.asarray(hdu.data[hdu.columns.names[names.index(name.upper())]])


def _key(headers, name, default=None):
    for h in headers:
        if name in h and h[name] not in (None, ""):
            v = h[name]
            return v.strip() if isinstance(v, str) else v
    return default


def _positive(path, what, value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise XmmError(f"{path.name}: keyword {what} is {value!r}, not a number") from None
    if not np.isfinite(v) or v <= 0:
        raise XmmError(f"{path.name}: keyword {what} = {v}: must be a positive number")
    return v


def checksum(*arrays) -> str:
    """sha256 over the content (dtype-normalised arrays), so the same response
    in another file or compression is recognised."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype.str if a.dtype.kind != "f" else "f8").encode())
        h.update((a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64)).tobytes())
    return h.hexdigest()


@dataclass
class PhaFile:
    path: Path
    pha: Pha
    instrument: str
    kind: str                  # source | background
    obs_id: str | None
    exp_id: str | None
    src_num: int | None
    backfile: str | None
    respfile: str | None
    ancrfile: str | None
    grouping: np.ndarray | None
    detchans: int
    ra: float | None = None    # source position (extraction region centre) when the file tells it
    dec: float | None = None
    header: dict = field(default_factory=dict)
    sha256: str = ""


def _none(v):
    v = (v or "").strip() if isinstance(v, str) else v
    return None if v in (None, "", "none", "NONE", "None") else v


def _region_position(hdul, headers):
    """(ra, dec) of the first CIRCLE of a REGION extension, through the sky WCS
    of the header (REFXCRPX/REFXCRVL/REFXCDLT, as in XMM event files)."""
    try:
        reg = next(h for h in hdul[1:] if str(h.header.get("HDUCLAS1", "")).upper() == "REGION")
        x, y = float(reg.data["X"][0]), float(reg.data["Y"][0])
        from astropy.wcs import WCS

        w = WCS(naxis=2)
        w.wcs.ctype = [_key(headers, "REFXCTYP"), _key(headers, "REFYCTYP")]
        w.wcs.crpix = [float(_key(headers, "REFXCRPX")), float(_key(headers, "REFYCRPX"))]
        w.wcs.crval = [float(_key(headers, "REFXCRVL")), float(_key(headers, "REFYCRVL"))]
        w.wcs.cdelt = [float(_key(headers, "REFXCDLT")), float(_key(headers, "REFYCDLT"))]
        ra, dec = w.wcs_pix2world([[x, y]], 1)[0]
        return float(ra) % 360.0, float(dec)
    except Exception:
        return None, None


@_readable
def read_pha(path: Path) -> PhaFile:
    """An OGIP PHA type I spectrum (COUNTS column) with its header links."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul = _open(path)
        with hdul:
            hdu = _hdu(hdul, path, ("SPECTRUM",), ("SPECTRUM",))
            headers = [hdu.header, hdul[0].header]
            if hdu.data is None or len(hdu.data) == 0:
                raise XmmError(f"{path.name}: extension {hdu.name} has no rows")
            if _column(hdu, path, "COUNTS", required=False) is None:
                raise XmmError(f"{path.name}: extension {hdu.name}: required column COUNTS is missing"
                               + (" (RATE spectra are not supported: store counts)"
                                  if _column(hdu, path, "RATE", required=False) is not None else ""))
            if _column(hdu, path, "COUNTS").ndim > 1:
                raise XmmError(f"{path.name}: a PHA type II file (several spectra); only type I is supported")
            channel = _column(hdu, path, "CHANNEL").astype(np.int64)
            counts = _column(hdu, path, "COUNTS").astype(np.float64)
            if not np.all(np.isfinite(counts)) or (counts < 0).any():
                i = int(np.argmax(~np.isfinite(counts) | (counts < 0)))
                raise XmmError(f"{path.name}: column COUNTS: {counts[i]} is not a count in row {i + 1}")
            if np.any(np.diff(channel) != 1):
                raise XmmError(f"{path.name}: column CHANNEL: channels must be consecutive")
            quality = _column(hdu, path, "QUALITY", required=False)
            if quality is None and _key(headers, "QUALITY") not in (None, 0):
                quality = np.full(len(channel), int(_key(headers, "QUALITY")))
            grouping = _column(hdu, path, "GROUPING", required=False)
            exposure = _positive(path, "EXPOSURE", _key(headers, "EXPOSURE"))
            backscal = _column(hdu, path, "BACKSCAL", required=False)
            if backscal is not None:
                raise XmmError(f"{path.name}: column BACKSCAL: per-channel BACKSCAL is not supported")
            backscal = _positive(path, "BACKSCAL", _key(headers, "BACKSCAL", 1.0))
            areascal = _positive(path, "AREASCAL", _key(headers, "AREASCAL", 1.0))
            inst_raw = str(_key([hdu.header], "INSTRUME", "") or _key(headers, "INSTRUME", "")).upper()
            parsed = pipeline_name(path.name)
            instrument = camera(inst_raw) if inst_raw else (parsed or {}).get("instrument")
            if instrument is None:
                raise XmmError(f"{path.name}: keyword INSTRUME is {inst_raw!r}: not an EPIC camera "
                               "(EPN, EMOS1, EMOS2)")
            if parsed and instrument != parsed["instrument"]:
                raise XmmError(f"{path.name}: keyword INSTRUME {inst_raw!r} contradicts the file name "
                               f"({parsed['instrument']})")
            hduclas2 = str(_key([hdu.header], "HDUCLAS2", "")).upper()
            kind = "background" if (parsed and parsed["type"] == "BGSPEC") or hduclas2 in ("BKG", "BACKGROUND") \
                else "source"
            obs_id = (parsed or {}).get("obs_id") or _none(_key(headers, "OBS_ID"))
            src_num = (parsed or {}).get("src_num")
            if src_num is None and _key(headers, "SRC_NUM") is not None:
                src_num = int(_key(headers, "SRC_NUM"))
            exp_id = (parsed or {}).get("exp_id") or _none(_key(headers, "EXPIDSTR"))
            ra, dec = (None, None) if src_num is not None else _region_position(hdul, headers)
            if ra is None and _key(headers, "SRC_RA") is not None:
                ra, dec = float(_key(headers, "SRC_RA")), float(_key(headers, "SRC_DEC"))
            detchans = int(_key(headers, "DETCHANS", len(channel)))
            keep = ("TELESCOP", "INSTRUME", "FILTER", "OBJECT", "DATE-OBS", "DATE-END", "OBS_ID", "EXPIDSTR",
                    "SUBMODE", "CHANTYPE", "ORIGIN")
            header = {k: _key(headers, k) for k in keep if _key(headers, k) is not None}
    pha = Pha(path.name, channel, counts, exposure, backscal, areascal,
              None if quality is None else np.asarray(quality, np.int64))
    return PhaFile(path, pha, instrument, kind, None if obs_id is None else str(obs_id).zfill(10), exp_id, src_num,
                   _none(_key([hdu.header], "BACKFILE")), _none(_key([hdu.header], "RESPFILE")),
                   _none(_key([hdu.header], "ANCRFILE")),
                   None if grouping is None else np.asarray(grouping, np.int64), detchans, ra, dec,
                   {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in header.items()},
                   checksum(channel, counts, exposure * np.ones(1), backscal * np.ones(1),
                            np.zeros(0) if quality is None else quality))


@_readable
def read_arf(path: Path) -> tuple[Arf, str]:
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _open(path) as hdul:
            hdu = _hdu(hdul, path, ("SPECRESP",))
            lo, hi = _column(hdu, path, "ENERG_LO").astype(float), _column(hdu, path, "ENERG_HI").astype(float)
            area = _column(hdu, path, "SPECRESP").astype(float)
            instrument = camera(str(_key([hdu.header, hdul[0].header], "INSTRUME", "")))
    _check_grid(path, lo, hi)
    if not np.all(np.isfinite(area)) or (area < 0).any():
        raise XmmError(f"{path.name}: column SPECRESP: effective areas must be finite and >= 0")
    return Arf(path.name, lo, hi, area), instrument


def _check_grid(path, lo, hi):
    if len(lo) == 0 or np.any(hi <= lo) or np.any(np.diff(lo) <= 0) or lo[0] < 0:
        raise XmmError(f"{path.name}: columns ENERG_LO/ENERG_HI: not an increasing energy grid")


@_readable
def read_rmf(path: Path) -> tuple[Rmf, str]:
    """An OGIP RMF (MATRIX or SPECRESP MATRIX + EBOUNDS) in Sherpa's compressed form."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _open(path) as hdul:
            mat = _hdu(hdul, path, ("MATRIX", "SPECRESP MATRIX"))
            ebo = _hdu(hdul, path, ("EBOUNDS",))
            lo, hi = _column(mat, path, "ENERG_LO").astype(float), _column(mat, path, "ENERG_HI").astype(float)
            n_grp = _column(mat, path, "N_GRP").astype(np.int64)
            fch, nch, m = mat.data["F_CHAN"], mat.data["N_CHAN"], mat.data["MATRIX"]
            f_chan, n_chan, matrix = [], [], []
            for i in range(len(lo)):
                g = int(n_grp[i])
                fc, nc = np.atleast_1d(fch[i])[:g], np.atleast_1d(nch[i])[:g]
                row = np.atleast_1d(m[i])
                f_chan.append(fc)
                n_chan.append(nc)
                matrix.append(row[:int(nc.sum())])
            f_chan = np.concatenate(f_chan).astype(np.int64) if f_chan else np.zeros(0, np.int64)
            n_chan = np.concatenate(n_chan).astype(np.int64) if n_chan else np.zeros(0, np.int64)
            matrix = np.concatenate(matrix).astype(np.float32) if matrix else np.zeros(0, np.float32)
            detchans = int(_key([mat.header, ebo.header], "DETCHANS", len(ebo.data)))
            names = [c.upper() for c in mat.columns.names]
            tl = mat.header.get(f"TLMIN{names.index('F_CHAN') + 1}")
            channels = _column(ebo, path, "CHANNEL").astype(np.int64)
            offset = int(tl) if tl is not None else int(channels[0])
            e_min, e_max = _column(ebo, path, "E_MIN").astype(float), _column(ebo, path, "E_MAX").astype(float)
            instrument = camera(str(_key([mat.header, hdul[0].header], "INSTRUME", "")))
    _check_grid(path, lo, hi)
    if matrix.size and not np.all(np.isfinite(matrix)):
        raise XmmError(f"{path.name}: column MATRIX: non-finite values")
    return Rmf(path.name, detchans, offset, lo, hi, n_grp, f_chan, n_chan, matrix, e_min, e_max), instrument
