"""The HiPS of the archive's photons, served to Aladin (Lite or Desktop) from the database:

    /hips/<name>/properties                       name: counts or colour
    /hips/<name>/Moc.fits
    /hips/<name>/Norder<k>/Allsky.png             (and .fits for counts)
    /hips/<name>/Norder<k>/Dir<d>/Npix<n>.png     (and .fits for counts)

Every file is one call of xmm_hips_file (sql/65_hips.sql); where the sky has no photons
a tile is an empty (transparent) one. Files carry an ETag and a cache lifetime: tiles
change only when xmm_hips_build runs.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import psycopg
from flask import Blueprint, Response, abort, current_app, request

routes = Blueprint("hips", __name__)
NAMES = ("counts", "colour")
MAX_AGE = 600           # s: a build changes tiles; clients revalidate with the ETag after this
TYPES = {"png": "image/png", "fits": "application/fits"}
ALLSKY_ORDER, ALLSKY_SIZE = 3, (27 * 64, 29 * 64)       # hips_order_min; 768 tiles of 64 x 64 in 27 columns


@lru_cache(maxsize=4)
def empty_tile(ext: str, width: int = 512, height: int = 512) -> bytes:
    """A tile (or Allsky) where the sky has no photons: transparent PNG, or a FITS of zeros."""
    import numpy as np

    out = io.BytesIO()
    if ext == "png":
        from PIL import Image

        Image.new("LA", (width, height), (0, 0)).save(out, format="png")
    else:
        from astropy.io import fits

        fits.PrimaryHDU(np.zeros((height, width), dtype=">i4")).writeto(out)
    return out.getvalue()


def _file(name: str, path: str) -> bytes | None:
    if name not in NAMES:
        abort(404, f"no HiPS called {name!r} (counts or colour)")
    try:
        return current_app.extensions["xmmdb"].value("SELECT xmm.xmm_hips_file(%s, %s)", (name, path))
    except psycopg.errors.InvalidParameterValue as exc:
        abort(404, exc.diag.message_primary)


def _send(data: bytes, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.set_etag(hashlib.md5(data).hexdigest())
    resp.cache_control.public = True
    resp.cache_control.max_age = MAX_AGE
    resp.headers["Access-Control-Allow-Origin"] = "*"          # HiPS clients on other pages (Aladin Lite anywhere)
    return resp.make_conditional(request)


@routes.route("/hips/<name>/properties")
def properties(name):
    return _send(_file(name, "properties"), "text/plain; charset=utf-8")


@routes.route("/hips/<name>/Moc.fits")
def moc(name):
    return _send(_file(name, "Moc.fits"), "application/fits")


@routes.route("/hips/<name>/Norder<int:norder>/Allsky.<ext>")
def allsky(name, norder, ext):
    if ext not in TYPES:
        abort(404)
    data = _file(name, f"Norder{norder}/Allsky.{ext}")
    if data is None and norder != ALLSKY_ORDER:
        abort(404, f"Allsky is at order {ALLSKY_ORDER}")
    return _send(empty_tile(ext, *ALLSKY_SIZE) if data is None else data, TYPES[ext])   # not built yet: empty


@routes.route("/hips/<name>/Norder<int:norder>/Dir<int:directory>/Npix<int:npix>.<ext>")
def tile(name, norder, directory, npix, ext):
    if ext not in TYPES:
        abort(404)
    data = _file(name, f"Norder{norder}/Dir{directory}/Npix{npix}.{ext}")
    return _send(empty_tile(ext) if data is None else data, TYPES[ext])
