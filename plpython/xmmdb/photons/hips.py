"""HiPS (IVOA HiPS 1.0) of the photon store: the X-ray sky as Aladin draws it.

Two HiPS share one set of tiles (xmm.hips_tile, sql/65_hips.sql):

    counts   photons of 0.2-12 keV: PNG (asinh stretch of the smoothed counts) and FITS (the counts)
    colour   red 0.2-1 keV, green 1-2 keV, blue 2-12 keV: PNG

Tiles are 512 x 512 HEALPix pixels (nested). The deepest order is 7, whose pixels
(order 16) are 3.2" (XMM's PSF is ~6" FWHM); orders 6 to 3 are sums of their
children, and Norder3/Allsky is every order-3 tile in 64 x 64. The events are those
of the photon functions' default (each camera's standard selection, xmm.event_rule).

A tile stores its raw counts per band (uint32 [3, 512, 512] in the PNG orientation,
lz4-compressed by the server), so a FITS tile is exact counts and the sum of its pixels is the number
of photons in its HEALPix cell. The PNGs show counts per order-16 pixel (3.2"),
smoothed by a Gaussian of one pixel of the tile's own order (the binomial kernel), through
asinh(x / BETA) / asinh(cut / BETA); the cut (counts per 3.2" pixel) is taken from
the data when the HiPS is first built (or rebuilt whole) and kept by later builds, so
old and new tiles share one stretch; properties says it (hips_pixel_cut).

xmm_hips_build rebuilds the order-7 tiles that overlap the Q3C cells a photon load
marked (xmm.hips_dirty, by xmm.hips_touch), then their parents, Allsky, the MOC and
the build record. Photons are read as packed rows (xmm.photon_cell, array_send of
the arrays) in chunks of CHUNK_ROWS rows and decoded here with numpy, a group of at
most four order-7 tiles (an order-6 cell) at a time: memory is bounded by the chunk
and the group, never by the archive.

Tile pixel layout (the HiPS convention; the hips package and hipsgen agree): in a
PNG, row = the HEALPix x bits (even bits of the nested index inside the tile), column
= the y bits (odd bits); FITS rows run the other way (flipped up-down).
"""

from __future__ import annotations

import io
import json
import math
import re
import time

import numpy as np

from ..errors import XmmError
from ..options import BOOL, INTEGER, parse

ORDER = 7                       # hips_order: order of the deepest tiles
ORDER_MIN = 3                   # hips_order_min: Allsky lives here
SHIFT = 9                       # 512 = 2**9 pixels a side
WIDTH = 1 << SHIFT
PIX_ORDER = ORDER + SHIFT       # order of the deepest pixels: 16, 3.22"
PIXELS = WIDTH * WIDTH
BANDS = ((200, 1000), (1000, 2000), (2000, 12001))       # eV, [lo, hi): red, green, blue
BAND_NAMES = ("0.2-1 keV", "1-2 keV", "2-12 keV")
EMIN, EMAX = 200, 12000                                  # counts: PI in [EMIN, EMAX] eV (xmm_photons' default)
BETA = 0.05                     # asinh softening, counts per 3.2" pixel (a lone photon's smoothed peak is 0.16)
SMOOTH_SIGMA = 1.0              # Gaussian sigma, pixels of the tile's own order
CUT_PERCENTILE = 99.95          # of the smoothed non-empty order-7 pixels: the top of the stretch
MIN_CUT = 1.0
CHUNK_ROWS = 2000               # packed rows read at once (~180 photons each)
GROUP = 2                       # order-7 tiles are counted an order-5 cell at a time: at most 16, 50 MB of counts
MAX_TILES = 12 * 4 ** ORDER     # every order-7 tile of the sky: the bound of max_tiles
NODE_SHIFT = 4                  # dirty cells are grouped by Q3C level-10 node (cell >> 4, <= 6.7' a side)
NODE_RADIUS_DEG = 4.9 / 60.0    # > half the diagonal of a level-10 node (4.75' at a face centre)
ALLSKY_TILE = 64                # a tile's side in Allsky
ALLSKY_COLUMNS = 27             # floor(sqrt(768))
NAMES = ("counts", "colour")
HC_EV_M = 1.23984198e-6         # h c in eV m

OPTIONS = {"all": (BOOL, False), "max_tiles": (INTEGER, MAX_TILES, MAX_TILES)}


# --- HEALPix inside a tile ---------------------------------------------------------------------

def _compact(v: np.ndarray) -> np.ndarray:
    """The even bits of v (uint64) packed together: the inverse of spreading bits."""
    v = v & np.uint64(0x5555555555555555)
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                        (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        v = (v | (v >> np.uint64(shift))) & np.uint64(mask)
    return v


def tile_pixel(ipix: np.ndarray, order: int = PIX_ORDER, shift: int = SHIFT) -> tuple:
    """(tile, row, column) of nested HEALPix pixels of `order` in the tiles of order - shift,
    row and column as a PNG tile holds them."""
    ipix = np.asarray(ipix, dtype=np.uint64)
    local = ipix & np.uint64((1 << (2 * shift)) - 1)
    return ((ipix >> np.uint64(2 * shift)).astype(np.int64), _compact(local).astype(np.int64),
            _compact(local >> np.uint64(1)).astype(np.int64))


def healpix_of(ra: np.ndarray, dec: np.ndarray, order: int = PIX_ORDER) -> np.ndarray:
    """Nested HEALPix index of (ra, dec) deg at `order` (astropy-healpix)."""
    import astropy.units as u
    from astropy_healpix import lonlat_to_healpix

    return np.asarray(lonlat_to_healpix(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg, 1 << order,
                                        order="nested"), dtype=np.int64)


def tile_path(norder: int, npix: int, ext: str) -> str:
    return f"Norder{norder}/Dir{npix // 10000 * 10000}/Npix{npix}.{ext}"


# --- storage of counts -------------------------------------------------------------------------

def pack_counts(counts: np.ndarray) -> bytes:
    """Counts as stored: little-endian uint32 (the column is lz4-compressed by the server)."""
    return np.ascontiguousarray(counts, dtype="<u4").tobytes()


def unpack_counts(blob: bytes, shape=(3, WIDTH, WIDTH)) -> np.ndarray:
    """The stored counts of a tile: uint32 [band, row, column] (PNG orientation)."""
    return np.frombuffer(bytes(blob), dtype="<u4").reshape(shape)


def bin_down(counts: np.ndarray, factor: int) -> np.ndarray:
    b, h, w = counts.shape
    return counts.reshape(b, h // factor, factor, w // factor, factor).sum(axis=(2, 4), dtype=np.uint64)


# --- rendering ---------------------------------------------------------------------------------

def smooth(images: np.ndarray) -> np.ndarray:
    """The binomial kernel 1 4 6 4 1 / 16 along both axes of [..., row, column] images (a Gaussian
    of sigma 1 pixel, SMOOTH_SIGMA, cut at 2 sigma; sums are kept but at the tile's edges)."""
    p = np.pad(images.astype(np.float32), [(0, 0)] * (images.ndim - 2) + [(2, 2), (2, 2)])
    h = p[..., :, :-4] + p[..., :, 4:] + 4 * (p[..., :, 1:-3] + p[..., :, 3:-1]) + 6 * p[..., :, 2:-2]
    return (h[..., :-4, :] + h[..., 4:, :] + 4 * (h[..., 1:-3, :] + h[..., 3:-1, :]) + 6 * h[..., 2:-2, :]) / 256


def brightness(counts: np.ndarray, norder: int) -> np.ndarray:
    """Smoothed counts per order-16 pixel (3.2") of a [band, row, column] counts array at `norder`
    (whose pixels are of order norder + 9); the bands and their sum, [4, row, column]."""
    out = np.empty((4,) + counts.shape[1:], dtype=np.float32)
    out[:3] = smooth(counts) / np.float32(4.0 ** (ORDER - norder))
    out[3] = out[:3].sum(axis=0)
    return out


def stretch(value: np.ndarray, cut: float) -> np.ndarray:
    """asinh stretch to 0..255 (uint8)."""
    v = np.arcsinh(np.maximum(value, 0) / np.float32(BETA)) / np.float32(math.asinh(cut / BETA))
    return (np.clip(v, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="png", compress_level=1)
    return out.getvalue()


def render(counts: np.ndarray, norder: int, cut: float, cuts_rgb) -> tuple[bytes, bytes]:
    """(counts PNG, colour PNG) of a tile's counts."""
    s = brightness(counts, norder)
    grey = stretch(s[3], cut)
    rgb = np.stack([stretch(s[b], cuts_rgb[b]) for b in range(3)], axis=-1)
    return _png(grey), _png(rgb)


def render_allsky(counts: np.ndarray, cut: float, cuts_rgb) -> tuple[bytes, bytes]:
    """Allsky PNGs from the Allsky counts (order-3 tiles in 64 x 64), each small tile smoothed alone."""
    s = np.zeros((4,) + counts.shape[1:], dtype=np.float32)
    t = ALLSKY_TILE
    for r in range(0, counts.shape[1], t):
        for c in range(0, counts.shape[2], t):
            block = counts[:, r:r + t, c:c + t]
            if block.any():
                s[:, r:r + t, c:c + t] = brightness(block, ORDER_MIN - 3)   # 64 px: pixels of order 3 + 6
    return _png(stretch(s[3], cut)), _png(np.stack([stretch(s[b], cuts_rgb[b]) for b in range(3)], axis=-1))


def fits_image(counts: np.ndarray, header: dict) -> bytes:
    """A FITS file of a 2-D counts image given in PNG orientation (FITS rows run the other way)."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.ascontiguousarray(np.flipud(counts).astype(">i4")))
    for k, v in header.items():
        hdu.header[k] = v
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def moc_fits(npix: np.ndarray, order: int = ORDER) -> bytes:
    """An IVOA MOC 1.1 FITS file (NUNIQ) of the order-`order` cells npix, complete
    groups of four siblings merged into their parent."""
    from astropy.io import fits

    cells = np.unique(np.asarray(npix, dtype=np.int64))
    uniq = []
    for k in range(order, 0, -1):
        parents, counts = np.unique(cells >> 2, return_counts=True)
        full = parents[counts == 4]
        keep = cells[~np.isin(cells >> 2, full)]
        uniq.append(4 * 4 ** k + keep)
        cells = full
    uniq.append(4 + cells)
    uniq = np.sort(np.concatenate(uniq)) if uniq else np.zeros(0, np.int64)
    col = fits.Column(name="UNIQ", format="K", array=uniq.astype(np.int64))
    hdu = fits.BinTableHDU.from_columns([col])
    for k, v in (("PIXTYPE", "HEALPIX"), ("ORDERING", "NUNIQ"), ("COORDSYS", "C"), ("MOCDIM", "SPACE"),
                 ("MOCORDER", order), ("MOCORD_S", order), ("MOCVERS", "2.0"), ("MOCTOOL", "xmmdb"),
                 ("MOCTYPE", "IMAGE"), ("MOCID", "ivo://xmmdb/P/XMM/EPIC/counts")):
        hdu.header[k] = v
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out)
    return out.getvalue()


# --- reading photons ---------------------------------------------------------------------------

_ROWS = """
SELECT array_agg(r.cell) AS cell, array_agg(r.exp_key) AS exp_key, array_agg(r.n) AS n, array_agg(r.x0) AS x0,
       array_agg(r.y0) AS y0, string_agg(array_send(r.dx), ''::bytea) AS dx, string_agg(array_send(r.dy), ''::bytea) AS dy,
       string_agg(array_send(r.pi), ''::bytea) AS pi, string_agg(array_send(r.pc), ''::bytea) AS pc,
       string_agg(array_send(r.flag), ''::bytea) AS flag
  FROM (SELECT c.cell, c.exp_key, c.n, c.x0, c.y0, c.dx, c.dy, c.pi, c.pc, c.flag
          FROM xmm.photon_cell c
         WHERE c.cell = ANY ($1) AND (c.cell, c.exp_key) > ($2, $3)
         ORDER BY c.cell, c.exp_key LIMIT $4) AS r"""      # aggregates over rows that arrive sorted
_ROWS_TYPES = ("bigint[]", "bigint", "integer", "integer")


def _elements(blob: bytes, n: np.ndarray, width: int) -> np.ndarray:
    """The values of concatenated array_send() images of 1-D arrays holding n[i] elements each
    (a 20-byte header, then a 4-byte length and the big-endian value per element)."""
    buf = np.frombuffer(bytes(blob), dtype=np.uint8)
    size = 20 + n * (4 + width)
    starts = np.cumsum(size) - size
    total = int(n.sum())
    first = np.cumsum(n) - n
    k = np.arange(total, dtype=np.int64) - np.repeat(first, n)
    pos = np.repeat(starts, n) + 24 + k * (4 + width)
    raw = buf[pos[:, None] + np.arange(width)]
    return raw.copy().view(f">i{width}").ravel().astype(np.int64)


class Exposures:
    """The sky WCS and camera of every exposure, by exp_key."""

    def __init__(self, db):
        rows = db.query("SELECT array_agg(exp_key) AS k, array_agg(instrument = 'EPN') AS pn, array_agg(x_ref) AS xr,"
                        " array_agg(y_ref) AS yr, array_agg(ra_ref) AS ar, array_agg(dec_ref) AS dr,"
                        " array_agg(x_delt) AS xd, array_agg(y_delt) AS yd FROM xmm.exposure")[0]
        keys = np.asarray(rows["k"] or [], dtype=np.int64)
        self.index = np.full(int(keys.max()) + 1 if len(keys) else 1, -1, dtype=np.int64)
        self.index[keys] = np.arange(len(keys))
        self.pn = np.asarray(rows["pn"] or [], dtype=bool)
        self.wcs = {k: np.asarray(rows[k] or [], dtype=np.float64) for k in ("xr", "yr", "ar", "dr", "xd", "yd")}


def event_rule(db) -> list[int]:
    """The default event selection as xmm.event_rule gives it: [pattern lo, hi pn, hi MOS, flag mask pn, MOS]."""
    return list(db.query("SELECT xmm.event_rule('{}') AS r")[0]["r"])


def read_photons(db, cells: list[int], exposures: Exposures, rule: list[int], chunk_rows: int = CHUNK_ROWS):
    """Photons of the standard selection with PI in [EMIN, EMAX] in these Q3C cells, in chunks:
    yields (ra, dec, band) arrays, at most chunk_rows packed rows' worth at a time."""
    from .sky import deproject

    last = (-1, -1)
    cells = sorted(int(c) for c in cells)
    while True:
        r = db.query(_ROWS, (cells, last[0], last[1], chunk_rows), _ROWS_TYPES)[0]
        if not r["cell"]:
            return
        last = (int(r["cell"][-1]), int(r["exp_key"][-1]))
        n = np.asarray(r["n"], dtype=np.int64)
        e = exposures.index[np.asarray(r["exp_key"], dtype=np.int64)]
        pe = np.repeat(e, n)
        pc = _elements(r["pc"], n, 2)
        flag = _elements(r["flag"], n, 4)
        pi = _elements(r["pi"], n, 2)
        pn = exposures.pn[pe]
        pattern = pc >> 8
        keep = ((pattern >= rule[0]) & (pattern <= np.where(pn, rule[1], rule[2]))
                & ((flag & np.where(pn, rule[3], rule[4])) == 0) & (pi >= EMIN) & (pi <= EMAX))
        x = (np.repeat(np.asarray(r["x0"], dtype=np.int64), n) + _elements(r["dx"], n, 2))[keep]
        y = (np.repeat(np.asarray(r["y0"], dtype=np.int64), n) + _elements(r["dy"], n, 2))[keep]
        pe, pi = pe[keep], pi[keep]
        w = exposures.wcs
        xi = np.radians((x - w["xr"][pe]) * w["xd"][pe])
        eta = np.radians((y - w["yr"][pe]) * w["yd"][pe])
        ra, dec = deproject(w["ar"][pe], w["dr"][pe], xi, eta)
        band = np.searchsorted(np.array([b[1] for b in BANDS[:-1]]), pi, side="right")
        yield ra, dec, band
        if len(n) < chunk_rows:
            return


# --- which tiles ---------------------------------------------------------------------------------

def tiles_of_nodes(db, nodes: np.ndarray) -> dict[int, set]:
    """{order-7 tile: the level-10 Q3C nodes (cell >> 4) it overlaps}: every tile any part of
    which lies within NODE_RADIUS_DEG of a node's centre (a superset of the tiles each node touches)."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    out: dict[int, set] = {}
    if not len(nodes):
        return out
    centres = db.query("SELECT array_agg(c[1] ORDER BY n) AS ra, array_agg(c[2] ORDER BY n) AS dec, "
                       "array_agg(n ORDER BY n) AS node FROM (SELECT n, q3c_ipix2ang((n << 40) | (3::bigint << 38)) AS c "
                       "FROM unnest($1::bigint[]) AS n) s", ([int(n) for n in nodes],), ("bigint[]",))[0]
    hp = HEALPix(nside=1 << ORDER, order="nested")
    for node, ra, dec in zip(centres["node"], centres["ra"], centres["dec"]):
        for t in hp.cone_search_lonlat(ra * u.deg, dec * u.deg, NODE_RADIUS_DEG * u.deg):
            out.setdefault(int(t), set()).add(int(node))
    return out


def cells_of_tiles(db, tiles: list[int]) -> list[int]:
    """The Q3C cells that may hold photons of these order-7 tiles: q3c's own cover
    (xmm.cone_cells) of a circle round each of their order-9 sub-cells."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    sub = (np.repeat(np.asarray(tiles, dtype=np.int64), 16) << 4) + np.tile(np.arange(16), len(tiles))
    hp = HEALPix(nside=1 << (ORDER + 2), order="nested")
    lon, lat = hp.healpix_to_lonlat(sub)
    blon, blat = hp.boundaries_lonlat(sub, step=4)
    sep = _separation(lon.deg[:, None], lat.deg[:, None], blon.to_value(u.deg), blat.to_value(u.deg)).max(axis=1)
    radius = sep * 1.05 + 0.2 / 60.0           # edges are not great circles: a margin
    rows = db.query("SELECT array_agg(DISTINCT c) AS cells FROM unnest($1::float8[], $2::float8[], $3::float8[]) "
                    "AS t(ra, dec, r), unnest(xmm.cone_cells(ra, dec, r)) AS c",
                    (lon.deg.tolist(), lat.deg.tolist(), radius.tolist()), ("float8[]", "float8[]", "float8[]"))
    return sorted(rows[0]["cells"] or [])


def _separation(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    s = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(s, 0, 1))))


# --- the build -----------------------------------------------------------------------------------

_UPSERT = """INSERT INTO xmm.hips_tile AS t (norder, npix, n_photons, counts, counts_png, colour_png, built_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (norder, npix) DO UPDATE SET n_photons = excluded.n_photons, counts = excluded.counts,
  counts_png = excluded.counts_png, colour_png = excluded.colour_png, built_at = excluded.built_at"""
_UPSERT_TYPES = ("smallint", "bigint", "bigint", "bytea", "bytea", "bytea")


class Builder:
    def __init__(self, db, notice=None):
        self.db, self.notice = db, notice
        self.cut = self.cuts_rgb = None
        self.sample: list[np.ndarray] = []           # smoothed order-7 values, for the cut of a first build
        self.stats = {"tiles": {}, "removed": 0, "photons_read": 0}

    def store(self, norder: int, npix: int, counts: np.ndarray) -> bool:
        """Writes (or removes, when empty) a tile; renders it when the stretch is known."""
        n = int(counts.sum(dtype=np.uint64))
        if n == 0:
            removed = self.db.query("DELETE FROM xmm.hips_tile WHERE norder = $1 AND npix = $2 RETURNING npix",
                                    (norder, npix), ("smallint", "bigint"))
            self.stats["removed"] += len(removed)
            return False
        pngs = (None, None) if self.cut is None else render(counts, norder, self.cut, self.cuts_rgb)
        self.db.query(_UPSERT, (norder, npix, n, pack_counts(counts), *pngs), _UPSERT_TYPES)
        self.stats["tiles"][norder] = self.stats["tiles"].get(norder, 0) + 1
        return True

    def deepest(self, tiles: list[int], exposures: Exposures, rule: list[int]) -> set[int]:
        """Counts of the order-7 tiles from the photons, a group (one order-5 cell) at a time."""
        tiles = np.asarray(sorted(tiles), dtype=np.int64)
        kept = set()
        for parent in np.unique(tiles >> 2 * GROUP):
            group = tiles[(tiles >> 2 * GROUP) == parent]
            acc = np.zeros(len(group) * 3 * PIXELS, dtype=np.int32)
            for ra, dec, band in read_photons(self.db, cells_of_tiles(self.db, group.tolist()), exposures, rule):
                self.stats["photons_read"] += len(ra)
                tile, row, col = tile_pixel(healpix_of(ra, dec))
                slot = np.searchsorted(group, tile)
                mine = (slot < len(group)) & (group[np.minimum(slot, len(group) - 1)] == tile)
                key = ((slot[mine] * 3 + band[mine]) * WIDTH + row[mine]) * WIDTH + col[mine]
                acc += np.bincount(key, minlength=len(acc)).astype(np.int32)
            for i, t in enumerate(group.tolist()):
                counts = acc[i * 3 * PIXELS:(i + 1) * 3 * PIXELS].reshape(3, WIDTH, WIDTH).astype(np.uint32)
                if self.cut is None and counts.any():
                    s = brightness(counts, ORDER)
                    for b in range(4):
                        v = s[b][s[b] > 1e-6]
                        self.sample.append((b, v[:: max(1, len(v) // 20000)]))
                if self.store(ORDER, t, counts):
                    kept.add(t)
        return kept

    def choose_cut(self) -> None:
        cuts = []
        for b in range(4):
            v = [s for k, s in self.sample if k == b]
            v = np.concatenate(v) if v else np.zeros(0)
            cuts.append(max(MIN_CUT if b == 3 else MIN_CUT / 3, float(np.percentile(v, CUT_PERCENTILE))
                            if len(v) else MIN_CUT))
        self.cut, self.cuts_rgb = cuts[3], cuts[:3]

    def render_stored(self, norder: int, tiles: set[int]) -> None:
        for t in sorted(tiles):
            row = self.db.query("SELECT counts FROM xmm.hips_tile WHERE norder = $1 AND npix = $2",
                                (norder, t), ("smallint", "bigint"))
            if row:
                pngs = render(unpack_counts(row[0]["counts"]), norder, self.cut, self.cuts_rgb)
                self.db.query("UPDATE xmm.hips_tile SET counts_png = $1, colour_png = $2 WHERE norder = $3 AND npix = $4",
                              (*pngs, norder, t), ("bytea", "bytea", "smallint", "bigint"))

    def parents(self, changed: set[int], norder: int) -> set[int]:
        """Tiles of norder - 1 from their children (changed: the children's npix that changed)."""
        out = set()
        for p in sorted({t >> 2 for t in changed}):
            counts = np.zeros((3, WIDTH, WIDTH), dtype=np.uint64)
            half = WIDTH // 2
            for r in self.db.query("SELECT npix, counts FROM xmm.hips_tile WHERE norder = $1 AND npix BETWEEN $2 AND $3",
                                   (norder, 4 * p, 4 * p + 3), ("smallint", "bigint", "bigint")):
                q = int(r["npix"]) - 4 * p
                counts[:, (q & 1) * half:(q & 1) * half + half, (q >> 1) * half:(q >> 1) * half + half] = \
                    bin_down(unpack_counts(r["counts"]), 2)
            self.store(norder - 1, p, counts.astype(np.uint32))
            out.add(p)
        return out

    def allsky(self) -> tuple[bytes, bytes, bytes]:
        rows_n = (12 * 4 ** ORDER_MIN + ALLSKY_COLUMNS - 1) // ALLSKY_COLUMNS
        t = ALLSKY_TILE
        counts = np.zeros((3, rows_n * t, ALLSKY_COLUMNS * t), dtype=np.uint64)
        last = -1
        while True:        # one tile at a time
            r = self.db.query("SELECT npix, counts FROM xmm.hips_tile WHERE norder = $1 AND npix > $2 ORDER BY npix LIMIT 1",
                              (ORDER_MIN, last), ("smallint", "bigint"))
            if not r:
                break
            last = int(r[0]["npix"])
            y, x = divmod(last, ALLSKY_COLUMNS)
            counts[:, y * t:(y + 1) * t, x * t:(x + 1) * t] = bin_down(unpack_counts(r[0]["counts"]), WIDTH // t)
        counts = counts.astype(np.uint32)
        return (*render_allsky(counts, self.cut, self.cuts_rgb), pack_counts(counts))


def build(db, options=None, notice=None) -> str:
    """xmm_hips_build: rebuilds the tiles of the regions photon loads marked (or all, {"all": true})."""
    t0 = time.monotonic()
    opts = parse(options, OPTIONS, "xmm_hips_build")
    from .. import __version__

    if opts["all"]:
        db.query("DELETE FROM xmm.hips_tile")
        db.query("DELETE FROM xmm.hips_build")
        db.query("INSERT INTO xmm.hips_dirty (cell) SELECT DISTINCT cell FROM xmm.photon_cell ON CONFLICT DO NOTHING")
    b = Builder(db, notice)
    state = db.query("SELECT cut, cuts_rgb FROM xmm.hips_build")
    if state:
        b.cut, b.cuts_rgb = float(state[0]["cut"]), [float(v) for v in state[0]["cuts_rgb"]]
    nodes = np.asarray(db.query("SELECT array_agg(DISTINCT cell >> $1) AS n FROM xmm.hips_dirty",
                                (NODE_SHIFT,), ("integer",))[0]["n"] or [], dtype=np.int64)
    by_tile = tiles_of_nodes(db, nodes)
    tiles = sorted(by_tile)[:opts["max_tiles"]]
    if not tiles and state:
        return json.dumps({"tiles": {}, "removed": 0, "photons": 0, "remaining_cells": 0,
                           "seconds": round(time.monotonic() - t0, 3)})
    if notice and len(tiles) > 50:
        notice(f"xmm_hips_build: {len(tiles)} order-{ORDER} tiles to build")
    changed = b.deepest(tiles, Exposures(db), event_rule(db))
    if b.cut is None:
        b.choose_cut()
        b.render_stored(ORDER, changed)
    touched = set(tiles)
    for k in range(ORDER, ORDER_MIN, -1):
        touched = b.parents(touched, k)
    allsky_counts_png, allsky_colour_png, allsky_counts = b.allsky()
    n7 = db.query("SELECT array_agg(npix ORDER BY npix) AS p FROM xmm.hips_tile WHERE norder = $1",
                  (ORDER,), ("smallint",))[0]["p"] or []
    centre = db.query("SELECT npix FROM xmm.hips_tile WHERE norder = $1 ORDER BY n_photons DESC, npix LIMIT 1",
                      (ORDER,), ("smallint",))
    ra0, dec0 = 0.0, 0.0
    if centre:
        import astropy.units as u
        from astropy_healpix import HEALPix

        lon, lat = HEALPix(nside=1 << ORDER, order="nested").healpix_to_lonlat([int(centre[0]["npix"])])
        ra0, dec0 = float(lon.to_value(u.deg)[0]), float(lat.to_value(u.deg)[0])
    built, of_node = set(tiles), {}
    for t, ns in by_tile.items():
        for n in ns:
            of_node.setdefault(n, []).append(t)
    done_nodes = [n for n in nodes.tolist() if all(t in built for t in of_node.get(n, []))]
    db.query("DELETE FROM xmm.hips_dirty WHERE cell >> $1 = ANY ($2)", (NODE_SHIFT, done_nodes), ("integer", "bigint[]"))
    remaining = db.query("SELECT count(*) AS n FROM xmm.hips_dirty")[0]["n"]
    seconds = time.monotonic() - t0
    db.query("DELETE FROM xmm.hips_build")
    db.query("INSERT INTO xmm.hips_build (cut, cuts_rgb, n_tiles, n_photons, initial_ra, initial_dec, moc, "
             "allsky_counts, allsky_counts_png, allsky_colour_png, builder, options, seconds) "
             "SELECT $1, $2, $3, (SELECT coalesce(sum(n_photons), 0) FROM xmm.hips_tile WHERE norder = $4), $5, $6, $7, "
             "$8, $9, $10, $11, $12, $13",
             (b.cut, b.cuts_rgb, len(n7), ORDER_MIN, ra0, dec0, moc_fits(np.asarray(n7, dtype=np.int64)),
              allsky_counts, allsky_counts_png, allsky_colour_png, f"xmmdb {__version__} xmm_hips_build",
              json.dumps(opts), seconds),
             ("real", "real[]", "integer", "smallint", "float8", "float8", "bytea", "bytea", "bytea", "bytea", "text",
              "jsonb", "float8"))
    return json.dumps({"tiles": {str(k): v for k, v in sorted(b.stats["tiles"].items())}, "removed": b.stats["removed"],
                       "photons": b.stats["photons_read"], "remaining_cells": int(remaining),
                       "seconds": round(seconds, 3)})


# --- reading the HiPS ----------------------------------------------------------------------------

TILE = re.compile(r"Norder(\d{1,2})/Dir(\d{1,12})/Npix(\d{1,15})\.(png|fits)")
ALLSKY = re.compile(r"Norder(\d{1,2})/Allsky\.(png|fits)")
FORMATS = {"counts": ("png", "fits"), "colour": ("png",)}


def _date(ts) -> str:
    return str(ts)[:16].replace(" ", "T") + "Z" if ts else ""


def properties(db, name: str) -> str:
    """The HiPS properties file (HiPS 1.0, section 4.4) of one of NAMES."""
    from .. import __version__

    s = db.query("SELECT cut, cuts_rgb, n_tiles, n_photons, initial_ra, initial_dec, builder, "
                 "to_char(built_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"') AS built FROM xmm.hips_build")
    s = s[0] if s else {"cut": MIN_CUT, "cuts_rgb": [MIN_CUT / 3] * 3, "n_tiles": 0, "n_photons": 0, "initial_ra": 0.0,
                        "initial_dec": 0.0, "builder": f"xmmdb {__version__} xmm_hips_build", "built": ""}
    scale = math.degrees(math.sqrt(4 * math.pi / (12 * 4.0 ** PIX_ORDER)))
    colour = name == "colour"
    p = {
        "creator_did": f"ivo://xmmdb/P/XMM/EPIC/{name}",
        "obs_title": ("XMM-Newton EPIC 3-colour (0.2-1, 1-2, 2-12 keV), xmmdb" if colour
                      else "XMM-Newton EPIC counts (0.2-12 keV), xmmdb"),
        "obs_description": ("Every photon of the archive's EPIC event lists (pn and MOS, all epochs, the standard "
                            "event selection) in HEALPix pixels of 3.2 arcsec, smoothed by a Gaussian of one pixel "
                            "of each order, asinh stretch" + (": red 0.2-1 keV, green 1-2 keV, blue 2-12 keV"
                                                              if colour else "; FITS tiles hold the counts")),
        "obs_regime": "X-ray",
        "obs_collection": "XMM-Newton EPIC",
        "prov_progenitor": "XMM-Newton EPIC event lists loaded into the xmmdb photon store",
        "dataproduct_type": "image",
        **({"dataproduct_subtype": "color"} if colour else {}),
        "hips_version": "1.4",
        "hips_builder": s["builder"],
        "hips_creator": "xmmdb",
        "hips_creation_date": s["built"],
        "hips_release_date": s["built"],
        "hips_status": "public master unclonable",
        "hips_frame": "equatorial",
        "hips_order": str(ORDER),
        "hips_order_min": str(ORDER_MIN),
        "hips_tile_width": str(WIDTH),
        "hips_tile_format": " ".join(FORMATS[name]),
        "hips_pixel_scale": f"{scale:.6g}",
        "s_pixel_scale": f"{0.05 / 3600:.6g}",
        **({} if colour else {"hips_pixel_bitpix": "32", "hips_pixel_cut": f"0 {float(s['cut']):.4g}"}),
        "hips_sampling": "none",
        "hips_overlay": "add",
        "hips_hierarchy": "sum",
        "hips_initial_ra": f"{float(s['initial_ra']):.6f}",
        "hips_initial_dec": f"{float(s['initial_dec']):.6f}",
        "hips_initial_fov": "2",
        "moc_sky_fraction": f"{int(s['n_tiles']) / (12 * 4 ** ORDER):.6g}",
        "em_min": f"{HC_EV_M / EMAX:.5g}",
        "em_max": f"{HC_EV_M / EMIN:.5g}",
        "xmmdb_stretch": (f"asinh(x / {BETA}) / asinh(cut / {BETA}), x = smoothed counts per {scale * 3600:.2f} arcsec "
                          f"pixel; cut = {float(s['cut']):.4g}"
                          + (" (red {:.4g}, green {:.4g}, blue {:.4g})".format(*map(float, s["cuts_rgb"])) if colour
                             else "")),
        "xmmdb_photons": str(int(s["n_photons"])),
        "xmmdb_smoothing": f"binomial 1-4-6-4-1 (a Gaussian of sigma {SMOOTH_SIGMA:g} pixel of the tile's order)",
    }
    return "".join(f"{k:<20} = {v}\n" for k, v in p.items())


def hips_file(db, name: str, path: str) -> bytes | None:
    """xmm_hips_file: one file of a HiPS, by its path in the HiPS ('properties', 'Moc.fits',
    'Norder3/Allsky.png', 'Norder7/Dir0/Npix1234.png'); NULL where there is no data."""
    if name not in NAMES:
        raise XmmError(f"xmm_hips_file: no HiPS called {name!r}", hint="counts or colour", sqlstate="22023")
    if path is None or len(path) > 100:
        raise XmmError("xmm_hips_file: a path of a HiPS file is at most 100 characters", sqlstate="22023")
    if path == "properties":
        return properties(db, name).encode()
    if path == "Moc.fits":
        r = db.query("SELECT moc FROM xmm.hips_build")
        return bytes(r[0]["moc"]) if r else moc_fits(np.zeros(0, np.int64))
    m, a = TILE.fullmatch(path), ALLSKY.fullmatch(path)
    if not (m or a):
        raise XmmError(f"xmm_hips_file: {path!r} is not a file of a HiPS",
                       hint="properties, Moc.fits, Norder<k>/Allsky.png or Norder<k>/Dir<d>/Npix<n>.png",
                       sqlstate="22023")
    ext = (m or a).groups()[-1]
    if ext not in FORMATS[name]:
        raise XmmError(f"xmm_hips_file: the {name} HiPS has {' and '.join(FORMATS[name])} tiles, not {ext}",
                       sqlstate="22023")
    norder = int((m or a).group(1))
    if a:
        if norder != ORDER_MIN:
            return None
        column = {"png": f"allsky_{name}_png", "fits": "allsky_counts"}[ext]
        r = db.query(f"SELECT {column} AS data FROM xmm.hips_build")
        if not r or r[0]["data"] is None:
            return None
        if ext == "png":
            return bytes(r[0]["data"])
        t = ALLSKY_TILE
        shape = (3, (12 * 4 ** ORDER_MIN + ALLSKY_COLUMNS - 1) // ALLSKY_COLUMNS * t, ALLSKY_COLUMNS * t)
        return fits_image(unpack_counts(r[0]["data"], shape).sum(axis=0, dtype=np.uint64),
                          {"BUNIT": "count", "ORDER": norder})
    directory, npix = int(m.group(2)), int(m.group(3))
    if directory != npix // 10000 * 10000 or npix >= 12 * 4 ** norder:
        raise XmmError(f"xmm_hips_file: {path!r} is not a tile of order {norder}", sqlstate="22023")
    if not ORDER_MIN <= norder <= ORDER:
        return None
    column = "counts" if ext == "fits" else f"{name}_png"
    r = db.query(f"SELECT {column} AS data FROM xmm.hips_tile WHERE norder = $1 AND npix = $2",
                 (norder, npix), ("smallint", "bigint"))
    if not r or r[0]["data"] is None:
        return None
    if ext == "png":
        return bytes(r[0]["data"])
    counts = unpack_counts(r[0]["data"])
    return fits_image(counts.sum(axis=0, dtype=np.uint64),
                      {"BUNIT": "count", "ORDER": norder, "NPIX": npix,
                       **{f"NBAND{b + 1}": int(counts[b].sum(dtype=np.uint64)) for b in range(3)},
                       "COMMENT": "XMM-Newton EPIC photons 0.2-12 keV per HEALPix pixel (xmmdb)"})
