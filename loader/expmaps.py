"""`xmmdb load expmaps FILE…`: EPIC exposure maps into xmm.exposure_map.

A map is an image (the primary HDU or the first image extension) in seconds on
a TAN grid without rotation, as the pipeline (P<obsid><inst><exp>EXPMAP<band>…)
and SAS eexpmap write them. Its exposure comes from OBS_ID, INSTRUME and
EXPIDSTR; its energy band from PI_MIN/PI_MAX (eV), else eexpmap's own record
of its call (pimin=, pimax= in XPROC0), else the band digit of a pipeline
name. The map is stored cropped to its non-zero pixels, exactly (float32).

All files of one call are one transaction; a file loaded again changes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from xmmdb.instruments import BANDS, camera
from xmmdb.photons.sky import deproject, project

from .catalogue import sha256
from .staging import LoadError

PIPELINE_NAME = re.compile(r"^P(\d{10})(PN|M1|M2)([SU]\d{3})EXPMAP(\d)", re.I)
MAX_RADIUS_DEG = 1.0       # xmm.exposure_map.radius: an EPIC field is 0.25 deg in radius
MAX_SIDE = 8192


def _fail(name: str, what: str) -> LoadError:
    return LoadError(f"{name}: {what}; nothing was written")


def _image_hdu(name: str, hdul):
    for hdu in hdul:
        if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS") == 2:
            return hdu
    raise _fail(name, "no two-dimensional image (an exposure map is an image in the primary HDU or an extension)")


def _band(name: str, header, primary) -> tuple[float, float, int | None]:
    """(emin, emax) eV and the catalogue's band number if the band is one of them."""
    lo, hi = header.get("PI_MIN", primary.get("PI_MIN")), header.get("PI_MAX", primary.get("PI_MAX"))
    if lo is None or hi is None:
        history = " ".join(str(v) for k, v in list(primary.items()) + list(header.items()) if k.startswith("XPROC"))
        m = re.search(r"\bpimin=(\d+(?:\.\d*)?)\s.*?\bpimax=(\d+(?:\.\d*)?)", history)
        if m:
            lo, hi = m.group(1), m.group(2)
    if lo is None or hi is None:
        m = PIPELINE_NAME.match(name)
        if m and int(m.group(4)) in BANDS:
            lo, hi = BANDS[int(m.group(4))]
    if lo is None or hi is None:
        raise _fail(name, "the energy band is not given: no PI_MIN/PI_MAX keywords (eV), no pimin/pimax in the "
                          "eexpmap call (XPROC0) and no band digit in a pipeline name (…EXPMAP<band>…)")
    try:
        lo, hi = float(lo), float(hi)
    except ValueError:
        raise _fail(name, f"the band PI_MIN/PI_MAX = {lo!r}/{hi!r} is not a pair of numbers (eV)") from None
    if not 0 <= lo < hi <= 20000:
        raise _fail(name, f"the band {lo:g}-{hi:g} eV is not within 0-20000 eV")
    number = next((b for b, (a, z) in BANDS.items() if (a, z) == (lo, hi)), None)
    return lo, hi, number


def _wcs(name: str, h) -> dict:
    ctype = (str(h.get("CTYPE1", "")).strip().upper(), str(h.get("CTYPE2", "")).strip().upper())
    if ctype != ("RA---TAN", "DEC--TAN"):
        raise _fail(name, f"CTYPE1/CTYPE2 are {ctype[0]!r}/{ctype[1]!r}: an exposure map must be on a RA---TAN / "
                          "DEC--TAN grid")
    cdelt = h.get("CDELT1"), h.get("CDELT2")
    if cdelt[0] is None and "CD1_1" in h:
        if h.get("CD1_2", 0) or h.get("CD2_1", 0):
            raise _fail(name, "the grid is rotated (CD1_2, CD2_1): only maps with north up are read")
        cdelt = h.get("CD1_1"), h.get("CD2_2")
    if float(h.get("CROTA2", 0) or 0) != 0 or any(float(h.get(k, d)) != d for k, d in
                                                  (("PC1_2", 0), ("PC2_1", 0), ("PC1_1", 1), ("PC2_2", 1))):
        raise _fail(name, "the grid is rotated (CROTA2 or PC keywords): only maps with north up are read")
    out = {}
    for key, value in (("crpix1", h.get("CRPIX1")), ("crpix2", h.get("CRPIX2")), ("crval1", h.get("CRVAL1")),
                       ("crval2", h.get("CRVAL2")), ("cdelt1", cdelt[0]), ("cdelt2", cdelt[1])):
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise _fail(name, f"keyword {key.upper()} is missing or not a number ({value!r})") from None
        if not np.isfinite(out[key]):
            raise _fail(name, f"keyword {key.upper()} is not finite")
    if out["cdelt1"] == 0 or out["cdelt2"] == 0:
        raise _fail(name, "a pixel size (CDELT1/CDELT2) is zero")
    if not -90 <= out["crval2"] <= 90:
        raise _fail(name, f"CRVAL2 = {out['crval2']} is not a declination")
    out["crval1"] %= 360.0
    return out


def read_map(path: Path) -> dict:
    """A row of xmm.exposure_map (without the checksum) from a file, checked."""
    from astropy.io import fits

    name = path.name
    if not path.is_file():
        raise LoadError(f"{name}: no such file ({path.parent})")
    try:
        hdul = fits.open(path, memmap=False)
        hdu = _image_hdu(name, hdul)
        data = np.asarray(hdu.data, dtype=np.float64)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"{name}: cannot read the file as FITS: {exc}") from None
    primary, h = hdul[0].header, hdu.header

    def keyword(k):
        return str(h.get(k, primary.get(k, ""))).strip()

    m = PIPELINE_NAME.match(name)
    obs_id = keyword("OBS_ID") or (m.group(1) if m else "")
    instrument = camera(keyword("INSTRUME") or (m.group(2) if m else ""))
    exp_id = (keyword("EXPIDSTR") or (m.group(3) if m else "")).upper()
    if not re.fullmatch(r"\d{10}", obs_id):
        raise _fail(name, f"no valid OBS_ID keyword ({obs_id!r})")
    if instrument is None:
        raise _fail(name, f"INSTRUME is {keyword('INSTRUME')!r}, expected EPN, EMOS1 or EMOS2")
    if not re.fullmatch(r"[SU]\d{3}", exp_id):
        raise _fail(name, f"no valid EXPIDSTR keyword (the exposure, e.g. S003; got {exp_id!r})")
    unit = keyword("BUNIT").lower()
    if unit not in ("", "s", "sec", "second", "seconds"):
        raise _fail(name, f"BUNIT is {keyword('BUNIT')!r}: an exposure map is in seconds")
    emin, emax, band = _band(name, h, primary)
    wcs = _wcs(name, h)
    ny, nx = data.shape
    if nx > MAX_SIDE or ny > MAX_SIDE:
        raise _fail(name, f"the image is {nx} x {ny} pixels, more than {MAX_SIDE} on a side")
    bad = np.argwhere(~np.isfinite(data) | (data < 0))
    if bad.size:
        y, x = bad[0]
        raise _fail(name, f"pixel (x {x + 1}, y {y + 1}) is {data[y, x]}: exposures are finite and not negative")
    seen = np.argwhere(data > 0)
    if not seen.size:
        raise _fail(name, "every pixel is zero: the map saw nothing")
    (y0, x0), (y1, x1) = seen.min(axis=0), seen.max(axis=0)
    crop = data[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    wcs["crpix1"] -= x0
    wcs["crpix2"] -= y0
    ny, nx = crop.shape
    vignetted = not re.search(r"withvignetting=no\b", " ".join(str(v) for k, v in primary.items() if k.startswith("XPROC")))

    def sky(px, py):   # 1-based FITS pixel -> (ra, dec)
        xi = np.radians((np.asarray(px, float) - wcs["crpix1"]) * wcs["cdelt1"])
        eta = np.radians((np.asarray(py, float) - wcs["crpix2"]) * wcs["cdelt2"])
        return deproject(wcs["crval1"], wcs["crval2"], xi, eta)

    ra_c, dec_c = sky((nx + 1) / 2.0, (ny + 1) / 2.0)
    corner_ra, corner_dec = sky([0.5, nx + 0.5, 0.5, nx + 0.5], [0.5, 0.5, ny + 0.5, ny + 0.5])
    xi, eta = project(ra_c, dec_c, corner_ra, corner_dec)
    radius = float(np.degrees(np.arctan(np.max(np.hypot(xi, eta)))))
    if radius > MAX_RADIUS_DEG:
        raise _fail(name, f"the map covers {radius:.2f} deg from its centre, more than an EPIC field "
                          f"({MAX_RADIUS_DEG} deg at most)")
    return dict(obs_id=obs_id, instrument=instrument, exp_id=exp_id, band=band, emin=emin, emax=emax,
                vignetted=vignetted, nx=nx, ny=ny, **wcs, ra_centre=float(ra_c) % 360.0, dec_centre=float(dec_c),
                radius=radius, max_exposure=float(crop.max()), pixels=crop.astype(">f4").tobytes(), file=str(path))


COLUMNS = ("obs_id", "instrument", "exp_id", "band", "emin", "emax", "vignetted", "nx", "ny", "crpix1", "crpix2",
           "crval1", "crval2", "cdelt1", "cdelt2", "ra_centre", "dec_centre", "radius", "max_exposure", "pixels",
           "file", "sha256")


def load_expmaps(conn: psycopg.Connection, paths: list[Path], progress: bool = True, out=None) -> dict:
    """Loads exposure maps in one transaction; returns {"exposure_map": {inserted, updated, unchanged}}."""
    totals = {"inserted": 0, "updated": 0, "unchanged": 0}
    rows = []
    for path in map(Path, paths):     # every file is read and checked before anything is written
        row = read_map(path)
        row["sha256"] = sha256(path)
        rows.append(row)
    with conn.transaction():
        for row in rows:
            key = (row["obs_id"], row["instrument"], row["exp_id"], row["emin"], row["emax"])
            old = conn.execute("SELECT sha256 FROM xmm.exposure_map WHERE obs_id = %s AND instrument = %s "
                               "AND exp_id = %s AND emin = %s::real AND emax = %s::real", key).fetchone()
            if old and old[0] == row["sha256"]:
                totals["unchanged"] += 1
                continue
            values = [row[c] for c in COLUMNS]
            conn.execute(f"""INSERT INTO xmm.exposure_map ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})
                             ON CONFLICT (obs_id, instrument, exp_id, emin, emax) DO UPDATE SET
                             {', '.join(f'{c} = excluded.{c}' for c in COLUMNS)}, loaded_at = now()""", values)
            totals["updated" if old else "inserted"] += 1
            conn.execute("INSERT INTO xmm.load_log (format, file, sha256, n_rows, summary) VALUES (%s, %s, %s, 1, %s)",
                         ("expmap", row["file"], row["sha256"],
                          Jsonb({"exposure_map": {"obs_id": row["obs_id"], "instrument": row["instrument"],
                                                  "exp_id": row["exp_id"], "emin": row["emin"], "emax": row["emax"],
                                                  "replaced": bool(old)}})))
            if progress or out is not None:
                print(f"{Path(row['file']).name}: {row['obs_id']} {row['instrument']} {row['exp_id']} "
                      f"{row['emin']:g}-{row['emax']:g} eV, {row['nx']} x {row['ny']} pixels",
                      file=out or sys.stderr)
    if totals["inserted"] or totals["updated"]:
        with conn.transaction():
            conn.execute("ANALYZE xmm.exposure_map")
    return {"exposure_map": totals}
