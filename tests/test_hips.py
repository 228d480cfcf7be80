"""The HiPS of the photons (sql/65_hips.sql, plpython/xmmdb/photons/hips.py, webshim/hips.py):
tiles whose pixels sum to the photons of their HEALPix cells in every band and order, a bright
source where HEALPix puts it (the tile layout of the HiPS standard, built here independently of
the module), properties and MOC as the standard asks, a photon load that rebuilds only the tiles
it touched, a build readers cannot run and a statement timeout stops, the shim's routes, and
Aladin Lite drawing our X-ray tiles in Chromium (tests/artifacts/web_hips*.png).

The module builds the HiPS in a scratch database of its own (the run's database stays as loaded)."""

from __future__ import annotations

import io
import json
import math
import os
import time

import astropy.units as u
import numpy as np
import psycopg
import pytest
from astropy.io import fits
from astropy_healpix import HEALPix, lonlat_to_healpix
from conftest import SAMPLE, drop_database, scratch_database, served
from PIL import Image

from xmmdb.photons.hips import BANDS, ORDER, ORDER_MIN, WIDTH, tile_path, unpack_counts
from xmmdb_loader.cli import main
from xmmdb_loader.events import load_events
from xmmdb_loader.roles import login_dsn


PULSAR = json.loads((SAMPLE / "truth" / "events.json").read_text())["pulsar"]
PHOTONS = ("SELECT ra, dec, pi FROM xmm.photon WHERE xmm.standard_event(instrument, pattern, flag)"
           " AND pi BETWEEN 200 AND 12000")


@pytest.fixture(scope="module")
def hips_dsn(server_dsn):
    name = f"xmmtest_hips_{os.getpid()}"
    dsn = scratch_database(server_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        built = conn.execute("SELECT xmm_hips_build()").fetchone()[0]
    assert built["remaining_cells"] == 0 and built["tiles"][str(ORDER)] > 0
    yield dsn
    drop_database(server_dsn, name)


@pytest.fixture
def conn(hips_dsn):
    with psycopg.connect(hips_dsn, autocommit=True) as c:
        yield c


def tiles(conn, norder: int) -> dict[int, np.ndarray]:
    return {int(n): unpack_counts(c) for n, c in conn.execute(
        "SELECT npix, counts FROM xmm.hips_tile WHERE norder = %s", (norder,))}


def photons(conn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every photon of the default selection as the photon view decodes it: ra, dec, band."""
    rows = np.array(conn.execute(PHOTONS).fetchall(), dtype=np.float64)
    band = np.searchsorted([b[1] for b in BANDS[:-1]], rows[:, 2], side="right")
    return rows[:, 0], rows[:, 1], band


def layout(shift: int) -> np.ndarray:
    """The nested index inside a tile at each (row, column) of a PNG tile, as the hips package
    (hipspy) builds it: [[0, 1], [2, 3]] nested recursively, rotated by 90 degrees for FITS, and
    PNG/JPEG rows the other way up."""
    a = np.array([[0, 1], [2, 3]])
    for k in range(2, shift + 1):
        half = 1 << (k - 1)
        a = np.tile(a, (2, 2)) + np.repeat(np.repeat((half * half) * np.array([[0, 1], [2, 3]]), half, 0), half, 1)
    return np.flipud(np.rot90(a))


def test_pixel_sums_equal_the_photons_of_each_healpix_cell_in_every_band(conn):
    ra, dec, band = photons(conn)
    for norder in range(ORDER_MIN, ORDER + 1):
        cell = np.asarray(lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << norder, order="nested"))
        want = dict(_pairs(cell, band))
        got = {(n, b): int(c[b].sum()) for n, c in tiles(conn, norder).items() for b in range(3) if c[b].sum()}
        assert got == want, f"order {norder}"
    stored = conn.execute("SELECT norder, sum(n_photons) FROM xmm.hips_tile GROUP BY 1").fetchall()
    assert {n: int(s) for n, s in stored} == {k: len(ra) for k in range(ORDER_MIN, ORDER + 1)}


def _pairs(cell, band):
    keys, counts = np.unique(cell * 3 + band, return_counts=True)
    return [((k // 3, k % 3), n) for k, n in zip(keys.tolist(), counts.tolist())]


def test_pixels_hold_the_photons_healpix_puts_there(conn):
    """Every photon in its order-16 pixel, at the (row, column) the standard's layout gives."""
    ra, dec, band = photons(conn)
    ipix = np.asarray(lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << (ORDER + 9), order="nested"))
    where = np.argsort(layout(9).ravel())                     # local nested index -> row * 512 + column
    tile = ipix >> 18
    for npix, counts in tiles(conn, ORDER).items():
        mine = tile == npix
        want = np.bincount(band[mine] * WIDTH * WIDTH + where[ipix[mine] & (WIDTH * WIDTH - 1)],
                           minlength=3 * WIDTH * WIDTH).reshape(3, WIDTH, WIDTH)
        assert np.array_equal(counts, want), npix
        fits_tile = fits.open(io.BytesIO(conn.execute("SELECT xmm_hips_file('counts', %s)",
                                                      (tile_path(ORDER, npix, "fits"),)).fetchone()[0]))[0]
        assert np.array_equal(np.flipud(fits_tile.data), want.sum(axis=0))       # FITS rows run upwards
        assert fits_tile.header["BUNIT"] == "count"


def test_a_bright_source_appears_where_healpix_says(conn):
    """The planted pulsar of M31: the brightest pixel of its smoothed tile is its HEALPix pixel."""
    ipix = int(lonlat_to_healpix(PULSAR["ra"] * u.deg, PULSAR["dec"] * u.deg, 1 << (ORDER + 9), order="nested"))
    npix, local = ipix >> 18, ipix & (WIDTH * WIDTH - 1)
    row, col = (int(v[0]) for v in np.nonzero(layout(9) == local))
    png = conn.execute("SELECT xmm_hips_file('counts', %s)", (tile_path(ORDER, npix, "png"),)).fetchone()[0]
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    box = image[max(row - 12, 0):row + 13, max(col - 12, 0):col + 13]
    peak = np.unravel_index(np.argmax(box), box.shape)
    assert abs(peak[0] - min(row, 12)) <= 2 and abs(peak[1] - min(col, 12)) <= 2, (peak, row, col)
    assert box.max() > 2 * np.median(image[image > 0])          # it stands out of its field


def properties(conn, name: str) -> dict[str, str]:
    text = bytes(conn.execute("SELECT xmm_hips_file(%s, 'properties')", (name,)).fetchone()[0]).decode()
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def test_properties_carry_what_the_standard_requires(conn):
    n7 = conn.execute("SELECT count(*) FROM xmm.hips_tile WHERE norder = %s", (ORDER,)).fetchone()[0]
    for name in ("counts", "colour"):
        p = properties(conn, name)
        for key in ("creator_did", "obs_title", "dataproduct_type", "hips_version", "hips_release_date", "hips_status",
                    "hips_frame", "hips_order", "hips_order_min", "hips_tile_width", "hips_tile_format",
                    "hips_pixel_scale", "hips_initial_ra", "hips_initial_dec", "hips_initial_fov", "moc_sky_fraction",
                    "obs_regime", "em_min", "em_max"):
            assert p.get(key), (name, key)
        assert p["creator_did"].startswith("ivo://") and p["dataproduct_type"] == "image"
        assert p["hips_frame"] == "equatorial" and p["obs_regime"] == "X-ray" and p["hips_version"] == "1.4"
        assert (int(p["hips_order"]), int(p["hips_order_min"]), int(p["hips_tile_width"])) == (ORDER, ORDER_MIN, WIDTH)
        assert time.strptime(p["hips_release_date"], "%Y-%m-%dT%H:%MZ")
        assert "public" in p["hips_status"].split()
        assert math.isclose(float(p["hips_pixel_scale"]) * 3600, 3.22, rel_tol=0.01)        # order 16 pixels
        assert math.isclose(float(p["moc_sky_fraction"]), n7 / (12 * 4 ** ORDER), rel_tol=1e-4)
        assert math.isclose(float(p["em_min"]), 1.0332e-10, rel_tol=1e-3)                   # 12 keV
        assert math.isclose(float(p["em_max"]), 6.1992e-9, rel_tol=1e-3)                    # 0.2 keV
        assert abs(float(p["hips_initial_ra"]) - 10.68) < 0.5 and abs(float(p["hips_initial_dec"]) - 41.3) < 0.5
    counts, colour = properties(conn, "counts"), properties(conn, "colour")
    assert counts["hips_tile_format"].split() == ["png", "fits"] and colour["hips_tile_format"] == "png"
    low, high = map(float, counts["hips_pixel_cut"].split())
    assert low == 0 and high > 0 and colour["dataproduct_subtype"] == "color"
    assert counts["creator_did"] != colour["creator_did"]


def test_the_moc_and_allsky_cover_the_tiles(conn):
    moc = fits.open(io.BytesIO(conn.execute("SELECT xmm_hips_file('counts', 'Moc.fits')").fetchone()[0]))[1]
    assert moc.header["PIXTYPE"] == "HEALPIX" and moc.header["ORDERING"] == "NUNIQ"
    assert moc.header["COORDSYS"] == "C" and moc.header["MOCORDER"] == ORDER
    uniq = moc.data["UNIQ"].astype(np.int64)
    order = (np.floor(np.log2(uniq // 4) / 2)).astype(int)
    covered = set()
    for o, n in zip(order.tolist(), (uniq - 4 * 4 ** order).tolist()):
        covered.update(range(n << 2 * (ORDER - o), (n + 1) << 2 * (ORDER - o)))
    assert covered == set(tiles(conn, ORDER))
    png = conn.execute("SELECT xmm_hips_file('colour', 'Norder3/Allsky.png')").fetchone()[0]
    image = np.asarray(Image.open(io.BytesIO(png)))
    assert image.shape == (29 * 64, 27 * 64, 3)
    for npix in tiles(conn, ORDER_MIN):
        y, x = divmod(npix, 27)
        assert image[y * 64:(y + 1) * 64, x * 64:(x + 1) * 64].any(), npix
    allsky = fits.open(io.BytesIO(conn.execute("SELECT xmm_hips_file('counts', 'Norder3/Allsky.fits')").fetchone()[0]))
    assert allsky[0].data.sum() == sum(int(c.sum()) for c in tiles(conn, ORDER_MIN).values())


def test_readers_cannot_build_but_read(hips_dsn):
    with psycopg.connect(login_dsn(hips_dsn, "xmm_user"), autocommit=True) as reader:
        for call in ("SELECT xmm_hips_build()", "SELECT xmm.python_hips_build('{\"all\": true}')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(call)
        assert reader.execute("SELECT length(xmm_hips_file('counts', 'Norder3/Allsky.png'))").fetchone()[0] > 1000


def test_the_build_is_bounded_and_a_timeout_stops_it(conn):
    for options, words in (('{"max_tiles": 1e9}', "at most"), ('{"max_tiles": 0}', "positive integer"),
                           ('{"al": true}', "all")):
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("SELECT xmm_hips_build(%s)", (options,))
        assert words in caught.value.diag.message_primary + (caught.value.diag.message_hint or "")
    conn.execute("SET statement_timeout = '300ms'")
    t0 = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT xmm_hips_build('{\"all\": true}')")
    assert time.monotonic() - t0 < 3.0
    conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT count(*) FROM xmm.hips_dirty").fetchone()[0] == 0        # rolled back: as it was


def test_files_and_their_mistakes(conn):
    assert conn.execute("SELECT xmm_hips_file('counts', 'Norder7/Dir0/Npix0.png')").fetchone()[0] is None
    for name, path in (("counts", "../etc/passwd"), ("colour", "Norder7/Dir0/Npix0.fits"), ("x", "properties"),
                       ("counts", "Norder7/Dir10000/Npix5.png"), ("counts", "Norder3/Dir0/Npix768.png")):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT xmm_hips_file(%s, %s)", (name, path))


def test_a_photon_load_rebuilds_only_the_tiles_it_touched(conn, tmp_path):
    """A new event list of the NGC 5408 MOS1 exposure (every other event of the sample's) replaces it
    with `xmmdb load events`: the load marks the cells it touched and rebuilds NGC 5408's tiles and
    their parents after it, and no tile of M31."""
    path = SAMPLE / "events" / "P0112290601M1S001MIEVLI0000.FTZ"
    half = tmp_path / path.name.replace(".FTZ", ".FIT")
    with fits.open(path) as hdul:
        events = hdul["EVENTS"].data
        hdul["EVENTS"].data = events[np.arange(0, len(events), 2)]
        hdul.writeto(half)
    before = dict(((n, p), t) for n, p, t in conn.execute("SELECT norder, npix, built_at FROM xmm.hips_tile"))
    try:
        main(["--dsn", conn.info.dsn, "load", "events", str(half)])
        assert conn.execute("SELECT count(*) FROM xmm.hips_dirty").fetchone()[0] == 0
        after = dict(((n, p), t) for n, p, t in conn.execute("SELECT norder, npix, built_at FROM xmm.hips_tile"))
        rebuilt = {k for k in after if after[k] != before.get(k)}
        ngc5408 = lonlat_to_healpix(210.8 * u.deg, -41.38 * u.deg, 1 << ORDER, order="nested")
        m31 = lonlat_to_healpix(10.68 * u.deg, 41.27 * u.deg, 1 << ORDER, order="nested")
        assert rebuilt and all(_near(n, p, ngc5408) for n, p in rebuilt), rebuilt
        assert not any(_near(n, p, m31) for n, p in rebuilt)
        test_pixel_sums_equal_the_photons_of_each_healpix_cell_in_every_band(conn)
    finally:
        with psycopg.connect(conn.info.dsn) as loader:       # the sample's list back, and its tiles
            load_events(loader, [path], progress=False)
        conn.execute("SELECT xmm_hips_build()")


def _near(norder: int, npix: int, order7: int) -> bool:
    """Whether an order-`norder` tile is the order-7 tile's ancestor or within 2 degrees of it."""
    hp = HEALPix(nside=1 << norder, order="nested")
    lon, lat = hp.healpix_to_lonlat([npix])
    lon7, lat7 = HEALPix(nside=1 << ORDER, order="nested").healpix_to_lonlat([order7])
    sep = np.degrees(np.arccos(np.clip(np.sin(lat) * np.sin(lat7) + np.cos(lat) * np.cos(lat7) * np.cos(lon - lon7),
                                       -1, 1)))
    return order7 >> 2 * (ORDER - norder) == npix or float(sep[0].value) < 2.0


# -- the web shim ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(hips_dsn):
    from xmmdb_web.app import create_app

    application = create_app(login_dsn(hips_dsn, "xmm_web"), hips_url="")
    application.config["TESTING"] = True
    yield application
    application.extensions["xmmdb"].close()


def test_the_shim_serves_the_hips(web, conn):
    client = web.test_client()
    props = client.get("/hips/counts/properties")
    assert props.status_code == 200 and "hips_tile_format" in props.get_data(as_text=True)
    assert props.headers["Cache-Control"].startswith("public") and props.headers["ETag"]
    again = client.get("/hips/counts/properties", headers={"If-None-Match": props.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/hips/colour/Moc.fits").data[:6] == b"SIMPLE"
    assert client.get("/hips/counts/Norder3/Allsky.png").data[:4] == b"\x89PNG"
    npix = conn.execute("SELECT npix FROM xmm.hips_tile WHERE norder = 7 ORDER BY n_photons DESC LIMIT 1").fetchone()[0]
    tile = client.get(f"/hips/colour/{tile_path(7, npix, 'png')}")
    assert tile.mimetype == "image/png" and np.asarray(Image.open(io.BytesIO(tile.data))).any()
    assert client.get(f"/hips/counts/{tile_path(7, npix, 'fits')}").mimetype == "application/fits"
    empty = client.get("/hips/counts/Norder7/Dir0/Npix0.png")        # no photons there: an empty tile
    assert empty.status_code == 200 and Image.open(io.BytesIO(empty.data)).size == (WIDTH, WIDTH)
    assert not np.asarray(Image.open(io.BytesIO(empty.data))).any()
    assert client.get("/hips/nope/properties").status_code == 404
    assert client.get("/hips/counts/Norder7/Dir0/Npix99999.png").status_code == 404
    assert client.get("/hips/blank/properties").status_code == 200        # the blank HiPS is still there


@pytest.fixture(scope="module")
def live(web):
    with served(web) as url:
        yield url


def test_aladin_lite_draws_our_xray_tiles(live, browser):
    """The source page of the M31 pulsar: Aladin Lite asks the shim for our tiles and draws them
    (grey counts, the brightest grey where the source is: the page centres on it); then the colour HiPS."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from test_web_browser import ARTIFACTS, assert_clean, wait

    browser.get(f"{live}/source/{PULSAR['srcid']}")
    wait(browser, lambda d: d.find_element(By.ID, "aladin").get_attribute("data-ready") == "1")

    def grey_peak(d):
        """The grey tiles drawn, the brightest grey where the page centres (the source): the
        pixels and the brightness at the centre and around, or None while tiles are arriving."""
        if not any("/Norder7/" in u for u in _requests(d) if "/hips/counts/Norder" in u):
            return None
        grey = _canvas(d, "web_hips")
        r, g, b = (grey[..., i].astype(int) for i in range(3))
        neutral = (abs(r - g) < 8) & (abs(g - b) < 8) & (r > 60)
        h, w = r.shape
        dist = np.hypot(*np.mgrid[0:h, 0:w] - np.array([h / 2, w / 2])[:, None, None])
        inner, outer = neutral & (dist < 25), neutral & (dist > 40) & (dist < 90)
        if neutral.sum() <= 200 or not inner.any() or not outer.any():
            return None
        centre, around = r[inner].mean(), r[outer].mean()
        return (neutral.sum(), centre, around) if centre > around + 20 else None

    n_grey, centre, around = wait(browser, grey_peak, 30)
    assert n_grey > 200 and centre > around + 20                    # the source is a peak where the page centres

    def coloured(d):
        colour = _canvas(d, "web_hips_colour").astype(int)
        drawn = ((colour.max(axis=2) - colour.min(axis=2)) > 40).sum()
        return drawn if drawn > 200 and any("/hips/colour/Norder" in u for u in _requests(d)) else None

    Select(browser.find_element(By.ID, "sky-layer")).select_by_index(1)
    assert wait(browser, coloured, 30) > 200, "no colour drawn"
    assert_clean(browser)
    assert (ARTIFACTS / "web_hips.png").exists()


_LOG: list[str] = []


def _requests(browser) -> list[str]:
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            _LOG.append(msg["params"]["request"]["url"])
    return list(_LOG)


def _canvas(browser, name: str) -> np.ndarray:
    """The sky view's pixels (RGB), and its screenshot in tests/artifacts."""
    from selenium.webdriver.common.by import By
    from test_web_browser import ARTIFACTS

    el = browser.find_element(By.ID, "aladin")
    png = el.screenshot_as_png
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))



def test_the_cds_moc_library_reads_the_moc(conn, tmp_path):
    """The MOC library of Aladin (CDS's cds.moc, installed with STILTS) reads Moc.fits: order 7, the tiles."""
    import subprocess

    (tmp_path / "Moc.fits").write_bytes(conn.execute("SELECT xmm_hips_file('counts', 'Moc.fits')").fetchone()[0])
    (tmp_path / "MocCheck.java").write_text(
        "import cds.moc.HealpixMoc; import java.io.FileInputStream;\n"
        "public class MocCheck { public static void main(String[] a) throws Exception {\n"
        "  HealpixMoc m = new HealpixMoc(); m.read(new FileInputStream(a[0]));\n"
        "  System.out.println(m.getMocOrder() + \" \" + m.getCoverage()); } }\n")
    out = subprocess.run(["java", "-cp", "/usr/share/java/cds.moc.jar", str(tmp_path / "MocCheck.java"),
                          str(tmp_path / "Moc.fits")], capture_output=True, text=True, timeout=120, check=True).stdout
    order, coverage = out.split()
    n7 = conn.execute("SELECT count(*) FROM xmm.hips_tile WHERE norder = %s", (ORDER,)).fetchone()[0]
    assert int(order) == ORDER and math.isclose(float(coverage), n7 / (12 * 4 ** ORDER), rel_tol=1e-9)
