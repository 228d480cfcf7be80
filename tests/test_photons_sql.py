"""The SQL surface over photons: the region idioms stay index-driven (EXPLAIN),
partitions are pruned, and xmm_image makes a FITS image with a WCS."""

import io

import numpy as np
import psycopg
import pytest
from astropy.io import fits
from photon_db import db, dsn  # noqa: F401  (the sample catalogue + events only)

M31_ULX = (10.7083, 41.3011)


def plan(db, sql, params=()):
    return "\n".join(r[0] for r in db.execute("EXPLAIN " + sql, params).fetchall())


def test_cone_idioms_use_the_cell_index_of_one_partition(db):
    db.execute("SET LOCAL enable_seqscan = off")  # the sample is tiny: ask what the plan would be at scale
    for sql in ("SELECT * FROM xmm_photons(10.7083, 41.3011, 30)",
                "SELECT * FROM photon WHERE cell = ANY (xmm.cone_cells(10.7083, 41.3011, 30/3600.0))"
                " AND q3c_dist(ra, dec, 10.7083, 41.3011) <= 30/3600.0"):
        db.execute("SET LOCAL search_path = xmm, public")
        text = plan(db, sql)
        assert "Index" in text and "photon_cell_" in text, text
        assert "Seq Scan on photon_cell" not in text, text
        assert len({w for w in text.split() if w.startswith("photon_cell_") and w[12:14].isdigit()}) <= 2, text


def test_obs_id_predicate_is_pushed_below_the_unpacking(db):
    text = plan(db, "SELECT count(*) FROM xmm.photon WHERE obs_id = '0112570101'")
    # the filter is on the exposure (a handful of rows), not on every unpacked photon
    scan = next(line for line in text.splitlines() if "obs_id = '0112570101'" in line)
    assert "Index Cond" in scan or "Filter" in scan
    assert text.index("ProjectSet") < text.index("obs_id = '0112570101'")


def test_cone_cells_cover_the_circle(db):
    """Every photon within r lies in one of the cone's cells (random centres and radii)."""
    rng = np.random.default_rng(5)
    rows = db.execute("SELECT ra, dec FROM xmm.photon ORDER BY random() LIMIT 5").fetchall()
    for ra, dec in rows:
        for r in rng.uniform(1, 600, 3):
            missing = db.execute(
                "SELECT count(*) FROM xmm.photon WHERE q3c_dist(ra, dec, %s, %s) * 3600 <= %s"
                " AND NOT cell = ANY (xmm.cone_cells(%s, %s, %s / 3600.0))", (ra, dec, r, ra, dec, r)).fetchone()[0]
            assert missing == 0


def test_xmm_image_is_a_fits_image_with_wcs(db):
    data = db.execute("SELECT xmm.xmm_image(%s, %s, 4, 2, '{}')", M31_ULX).fetchone()[0]
    with fits.open(io.BytesIO(data)) as hdul:
        img, h = hdul[0].data, hdul[0].header
        assert img.shape == (120, 120) and h["CTYPE1"] == "RA---TAN" and h["CTYPE2"] == "DEC--TAN"
        assert abs(h["CRVAL1"] - M31_ULX[0]) < 1e-9 and abs(h["CDELT2"] * 3600 - 2) < 1e-9
        # the ULX is the brightest pixel, at the centre
        y, x = np.unravel_index(np.argmax(img), img.shape)
        assert abs(x - 59.5) <= 3 and abs(y - 59.5) <= 3
        n_cone = db.execute("SELECT count(*) FROM xmm.xmm_photons(%s, %s, 3600)", M31_ULX).fetchone()[0]
        assert 0 < img.sum() <= n_cone
    band = db.execute("""SELECT xmm.xmm_image(%s, %s, 4, 2, '{"emin": 2000, "emax": 4500, "obs_id": "0112570201"}')""",
                      M31_ULX).fetchone()[0]
    with fits.open(io.BytesIO(band)) as hdul:
        assert 0 < hdul[0].data.sum() < img.sum() and hdul[0].header["OBS_ID"] == "0112570201"
    # a camera by any of its spellings; the options checked as every photon function checks them
    pn = db.execute("""SELECT xmm.xmm_image(%s, %s, 4, 2, '{"instrument": "pn", "tmin": 0}')""", M31_ULX).fetchone()[0]
    with fits.open(io.BytesIO(pn)) as hdul:
        assert 0 < hdul[0].data.sum() < img.sum() and hdul[0].header["TSTART"] == 0
        # the end of the window not given: the last photon of the image (its corners included)
        last = db.execute("SELECT max(time) FROM xmm.xmm_photons(%s, %s, %s) WHERE instrument = 'EPN'",
                          (*M31_ULX, 4 * 60 / np.sqrt(2) + 2)).fetchone()[0]
        assert hdul[0].header["TSTOP"] == last
    for options, words in (('{"emin": "soft"}', "option 'emin' must be a number"),
                           ('{"instrument": "ACIS"}', "unknown instrument 'ACIS'"),
                           ('{"bins": 3}', "unknown option 'bins'")):
        with pytest.raises(psycopg.Error, match=words):
            db.execute("SELECT xmm.xmm_image(%s, %s, 4, 2, %s)", (*M31_ULX, options))
        db.rollback()


PHOTON_COLUMNS = "obs_id, instrument, exp_id, cell, time, ra, dec, pi, pattern, flag, ccdnr, x, y"
UNNESTED = ("obs_id, instrument, exp_id, cell, unnest(time), unnest(ra), unnest(dec), unnest(pi), unnest(pattern),"
            " unnest(flag), unnest(ccdnr), unnest(x), unnest(y)")


@pytest.mark.parametrize("args", [
    (10.6847, 41.269, 300, 200, 12000, None, None, "{}"),                          # the default selection
    (10.6847, 41.269, 300, 0, 32767, None, None, '{"all_events": true}'),
    (10.7083, 41.3011, 45, 500, 2000, None, None, '{"pattern": [1, 4], "flag": "none"}'),
    (10.7083, 41.3011, 600, 200, 12000, 115400000, 169936000, '{"flag": "pn_spectral"}'),  # a time window
    (10.7083, 41.3011, 0.2, 200, 12000, None, None, "{}"),                         # few or no photons
])
def test_photon_arrays_hold_exactly_the_photons_of_xmm_photons(db, args):
    """Every photon of xmm_photons, bit for bit, in its exposure and cell's row of arrays,
    in time order; rows have photons, and n counts them."""
    rows = sorted(db.execute(f"SELECT {PHOTON_COLUMNS} FROM xmm_photons(%s, %s, %s, %s, %s, %s, %s, %s)",
                             args).fetchall())
    unnested = sorted(db.execute(f"SELECT {UNNESTED} FROM xmm_photon_arrays(%s, %s, %s, %s, %s, %s, %s, %s)",
                                 args).fetchall())
    assert unnested == rows
    for n, times in db.execute("SELECT n, time FROM xmm_photon_arrays(%s, %s, %s, %s, %s, %s, %s, %s)", args):
        assert n == len(times) > 0 and times == sorted(times)
    if args[2] >= 300:
        assert len(rows) > 10000


def test_photon_arrays_load_as_numpy_arrays(db):
    """With register_numpy_arrays, binary arrays arrive as numpy arrays of their own type
    holding what psycopg's lists hold; arrays numpy cannot hold as such are refused."""
    from xmmdb_loader.arrays import register_numpy_arrays

    sql = "SELECT time, ra, pi, pattern, flag, x FROM xmm_photon_arrays(10.6847, 41.269, 120)"
    lists = db.execute(sql, binary=True).fetchall()
    cur = db.cursor(binary=True)
    register_numpy_arrays(cur)
    arrays = cur.execute(sql).fetchall()
    assert len(arrays) == len(lists) > 5
    for got, want in zip(arrays, lists):
        for a, b, dtype in zip(got, want, (np.float64, np.float64, np.int32, np.int16, np.int32, np.int32)):
            assert isinstance(a, np.ndarray) and a.dtype == dtype and a.tolist() == b
    assert cur.execute("SELECT '{}'::float8[], ARRAY[1, 2]::int8[]").fetchone()[0].size == 0
    for bad in ("ARRAY[[1, 2], [3, 4]]::int4[]", "ARRAY[1, NULL]::float4[]"):
        with pytest.raises(psycopg.DataError, match="one-dimensional array without NULLs"):
            cur.execute(f"SELECT {bad}").fetchone()
