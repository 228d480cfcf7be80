"""Exposure maps: the real pn map of Abell 907 (SAS eexpmap, 0.5-2 keV) read pixel for
pixel against astropy.wcs and the file itself; the loader's checks and transactions;
the sample sky's simulated maps against the events they describe."""

import re

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from xmmdb_loader.expmaps import load_expmaps
from xmmdb_loader.simulate.events import SAMPLE_EXPOSURES
from xmmdb_loader.staging import LoadError

A907 = "images/abell907/0201903501_pn_exp1-0.50-2.00keVexpmap.fits"


def test_real_map_reads_the_pixel_under_each_position(db, shared_data):
    path = shared_data / A907
    db.execute("SELECT 1")      # in the test's transaction: the load is a savepoint, rolled back after
    totals = load_expmaps(db, [path], progress=False)
    assert totals == {"exposure_map": {"inserted": 1, "updated": 0, "unchanged": 0}}
    row = db.execute("SELECT obs_id, instrument, exp_id, band, emin, emax, vignetted, max_exposure "
                     "FROM xmm.exposure_map WHERE obs_id = '0201903501'").fetchone()
    assert row == ("0201903501", "EPN", "S003", None, 500.0, 2000.0, True, pytest.approx(5543.634, abs=1e-3))
    with fits.open(path) as hdul:
        image, header = hdul[0].data.astype(np.float64), hdul[0].header
    wcs = WCS(header)
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-20, 531, 1500), rng.uniform(-20, 531, 1500)   # 0-based pixel coordinates, some off the map
    ra, dec = wcs.pixel_to_world_values(x, y)
    ix, iy = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
    on = (ix >= 0) & (ix < 512) & (iy >= 0) & (iy < 512)
    want = np.where(on, image[np.clip(iy, 0, 511), np.clip(ix, 0, 511)], 0.0)
    got = np.array([(db.execute("SELECT coalesce(sum(exposure), 0) FROM xmm_exposure(%s, %s) WHERE obs_id = "
                                "'0201903501'", (float(a), float(d))).fetchone()[0]) for a, d in zip(ra, dec)])
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} positions differ"
    assert np.count_nonzero(want) > 500      # most positions lie on the exposed field
    # a second load changes nothing
    assert load_expmaps(db, [path], progress=False)["exposure_map"]["unchanged"] == 1


def _variant(tmp_path, name, edit, source):
    with fits.open(source) as hdul:
        edit(hdul[0])
        out = tmp_path / name
        hdul.writeto(out)
    return out


def test_bad_maps_are_refused_and_nothing_is_written(db, shared_data, tmp_path):
    source = shared_data / A907
    db.execute("SELECT 1")

    def nan_pixel(h):
        h.data[100, 200] = np.nan

    def rotated(h):
        h.header["CROTA2"] = 30.0

    def no_band(h):
        for k in [k for k in h.header if k.startswith("XPROC")]:
            del h.header[k]

    def galactic(h):
        h.header["CTYPE1"], h.header["CTYPE2"] = "GLON-TAN", "GLAT-TAN"

    cases = {"nan.fits": (nan_pixel, "pixel (x 201, y 101) is nan"),
             "rotated.fits": (rotated, "rotated"),
             "noband.fits": (no_band, "energy band is not given"),
             "galactic.fits": (galactic, "RA---TAN")}
    for name, (edit, words) in cases.items():
        bad = _variant(tmp_path, name, edit, source)
        with pytest.raises(LoadError, match=re.escape(words)) as err:
            load_expmaps(db, [source, bad], progress=False)     # the good file first: one transaction
        assert name in str(err.value) and "nothing was written" in str(err.value)
    assert db.execute("SELECT count(*) FROM xmm.exposure_map WHERE obs_id = '0201903501'").fetchone()[0] == 0


def test_sample_maps_describe_the_sample_events(db):
    """Each sample exposure has a map per standard band; at a catalogue source, the map's value is the
    on-time of the CCD the source lies on (from the events' own GTIs) times the vignetting there."""
    sample = sorted(SAMPLE_EXPOSURES)       # (other tests load real exposures into the run's database)
    maps = db.execute("SELECT obs_id, instrument, exp_id, array_agg(band ORDER BY band) FROM xmm.exposure_map "
                      "WHERE (obs_id, instrument, exp_id) IN (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])) "
                      "GROUP BY 1, 2, 3 ORDER BY 1, 2", [list(c) for c in zip(*sample)]).fetchall()
    loaded = db.execute("SELECT obs_id, instrument, exp_id FROM xmm.exposure WHERE obs_id = ANY (%s) ORDER BY 1, 2",
                        (sorted({e[0] for e in sample}),)).fetchall()
    assert [m[:3] for m in maps] == [tuple(e) for e in loaded] == sample
    assert all(m[3] == [1, 2, 3, 4, 5] for m in maps)
    rows = db.execute("""
        SELECT c.ontime, e.exposure, q3c_dist(x.ra_pnt, x.dec_pnt, s.sc_ra, s.sc_dec) * 60 AS offaxis
          FROM (SELECT sc_ra, sc_dec FROM xmm.source ORDER BY srcid LIMIT 400) s
         CROSS JOIN LATERAL xmm_coverage(s.sc_ra, s.sc_dec) c
          JOIN xmm.exposure x USING (obs_id, instrument, exp_id)
          JOIN LATERAL xmm_exposure(s.sc_ra, s.sc_dec) e USING (obs_id, instrument, exp_id)
         WHERE e.band = 3 AND q3c_dist(x.ra_pnt, x.dec_pnt, s.sc_ra, s.sc_dec) * 60 < 14""").fetchall()
    assert len(rows) > 50
    ontime, exposure, offaxis = (np.array(c, float) for c in zip(*rows))
    vignetting = 1 - 0.45 * (offaxis / 15.0) ** 2
    ratio = exposure / (ontime * vignetting)
    # a map pixel is 12" wide: the vignetting across it differs by < 0.3 %, a CCD edge inside it by the CCDs' on-times
    assert np.median(np.abs(ratio - 1)) < 0.005 and np.max(np.abs(ratio - 1)) < 0.03, ratio


def test_map_of_the_sample_is_in_a_backup(db):
    n = db.execute("SELECT count(*) FROM xmm.exposure_map").fetchone()[0]
    registered = db.execute("SELECT 'xmm.exposure_map'::regclass::oid = ANY (extconfig) FROM pg_extension "
                            "WHERE extname = 'xmmdb'").fetchone()[0]
    assert n > 0 and registered
