"""The 4XMM catalogue loader against the real database: the sample sky is in,
reloading changes nothing, bad files are rejected whole with a clear message."""

import math
import shutil
import subprocess

import numpy as np
import psycopg
import pytest
from astropy.table import Table

from xmmdb_loader.catalogue import load_catalogue
from xmmdb_loader.staging import LoadError

from conftest import SAMPLE

CATALOGUE = SAMPLE / "catalogue" / "xmmdb_sample_cat.fits"
OBSLIST = SAMPLE / "catalogue" / "xmmdb_sample_obslist.fits"


def counts(db):
    return db.execute("SELECT (SELECT count(*) FROM source), (SELECT count(*) FROM detection),"
                      " (SELECT count(*) FROM observation)").fetchone()


def test_sample_sky_is_loaded(db):
    n_src, n_det, n_obs = counts(db)
    cat = Table.read(CATALOGUE)
    assert n_det == len(cat)
    assert n_src == len(set(cat["SRCID"]))
    assert n_obs == len(Table.read(OBSLIST))
    # Pointings and footprints come from the observation list.
    assert db.execute("SELECT count(*) FROM observation WHERE footprint IS NULL OR target IS NULL").fetchone()[0] == 0


def test_m31_cone_uses_the_q3c_index(db):
    sql = "SELECT count(*) FROM source WHERE q3c_radial_query(sc_ra, sc_dec, 10.68, 41.27, 1)"
    assert db.execute(sql).fetchone()[0] > 300
    plan = "\n".join(r[0] for r in db.execute("EXPLAIN " + sql))
    assert "source_q3c_idx" in plan and "Seq Scan" not in plan


def test_footprint_finds_the_observations_covering_a_point(db):
    n = db.execute("SELECT count(*) FROM observation WHERE footprint @> spoint(radians(149.5917), radians(-11.0636))"
                   ).fetchone()[0]
    assert n == 3  # the three Abell 907 epochs


def test_reload_changes_nothing(db):
    before = db.execute("SELECT md5(string_agg(s::text, '' ORDER BY srcid)) FROM source s").fetchone()
    totals = load_catalogue(db, [OBSLIST, CATALOGUE], progress=False)
    assert all(t["inserted"] == 0 and t["updated"] == 0 for t in totals.values())
    assert db.execute("SELECT md5(string_agg(s::text, '' ORDER BY srcid)) FROM source s").fetchone() == before


def test_csv_and_votable_load_like_fits(db, tmp_path):
    cat = Table.read(CATALOGUE)
    cat = cat[cat["OBS_ID"] == "0201903501"]
    before = counts(db)
    for fmt, name in (("ascii.csv", "cat.csv"), ("votable", "cat.vot")):
        cat.write(tmp_path / name, format=fmt)
        totals = load_catalogue(db, [tmp_path / name], progress=False)
        assert totals["detection"]["inserted"] == 0 and totals["detection"]["updated"] == 0, fmt
        assert totals["detection"]["unchanged"] == len(cat)
    assert counts(db) == before


def test_changed_values_are_updated(db, tmp_path):
    cat = Table.read(CATALOGUE)[:5]
    cat["EP_8_DET_ML"] = cat["EP_8_DET_ML"] + 1
    cat.write(tmp_path / "changed.fits")
    totals = load_catalogue(db, [tmp_path / "changed.fits"], progress=False)
    assert totals["detection"]["updated"] == 5


def reject(db, tmp_path, table, match, name="bad.fits"):
    path = tmp_path / name
    table.write(path, overwrite=True)
    before = counts(db)
    with pytest.raises((LoadError, psycopg.Error), match=match):
        load_catalogue(db, [path], progress=False)
    db.rollback()
    assert counts(db) == before


def new_rows(n=3):
    """A small catalogue of new sources in a new observation."""
    cat = Table.read(CATALOGUE)[:n]
    cat["DETID"] = np.arange(10**9, 10**9 + n)
    cat["SRCID"] = np.arange(10**9, 10**9 + n)
    cat["OBS_ID"] = "0999999901"
    cat["SRC_NUM"] = np.arange(1, n + 1)
    cat["IAUNAME"] = [f"4XMM J000000.{i}+000000" for i in range(n)]
    return cat


def test_missing_required_column(db, tmp_path):
    cat = new_rows()
    cat.remove_column("SC_DEC")
    reject(db, tmp_path, cat, r"bad.fits: required column SC_DEC is missing")


def test_nan_position_names_row(db, tmp_path):
    cat = new_rows()
    cat["RA"][1] = math.nan
    reject(db, tmp_path, cat, r"bad.fits: column RA: no value \(empty or NaN\) in row 2")


def test_position_off_the_sky(db, tmp_path):
    cat = new_rows()
    cat["DEC"][2] = 91.0
    reject(db, tmp_path, cat, r"column DEC: position is not a finite sky coordinate in row 3")


def test_duplicate_detid(db, tmp_path):
    cat = new_rows()
    cat["DETID"][2] = cat["DETID"][0]
    reject(db, tmp_path, cat, r"duplicate key \(DETID\) in rows 1 and 3")


def test_wrong_type_in_csv(db, tmp_path):
    cat = new_rows()
    cat["EP_8_DET_ML"] = cat["EP_8_DET_ML"].astype(str)
    cat["EP_8_DET_ML"][1] = "lots"
    reject(db, tmp_path, cat, r"column EP_8_DET_ML: 'lots' is not a number in row 2", name="bad.csv")


def test_wrong_unit(db, tmp_path):
    cat = new_rows()
    cat["RA"].unit = "rad"
    reject(db, tmp_path, cat, r"column RA: unit is 'rad', expected 'deg'")


def test_truncated_fits(db, tmp_path):
    path = tmp_path / "truncated.fits"
    shutil.copy(CATALOGUE, path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(LoadError, match=r"truncated.fits: cannot read the file"):
        load_catalogue(db, [path], progress=False)


def test_one_bad_file_keeps_the_good_one_out_too(db, tmp_path):
    good, bad = new_rows(), new_rows()
    good.write(tmp_path / "good.fits")
    bad["DETID"][:] = 7
    bad.write(tmp_path / "bad.fits")
    before = counts(db)
    with pytest.raises(psycopg.Error, match="duplicate key"):
        load_catalogue(db, [tmp_path / "good.fits", tmp_path / "bad.fits"], progress=False)
    db.rollback()
    assert counts(db) == before


def test_cli_reports_errors_and_exit_code(dsn, tmp_path):
    cat = new_rows()
    cat.remove_column("IAUNAME")
    cat.write(tmp_path / "noname.fits")
    env = {"XMMDB_DSN": dsn, "PATH": "/usr/bin:/bin"}
    xmmdb = shutil.which("xmmdb") or str(__import__("sys").prefix + "/bin/xmmdb")
    out = subprocess.run([xmmdb, "load", "catalogue", str(tmp_path / "noname.fits")], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "noname.fits: required column IAUNAME is missing" in out.stderr
    assert "hint:" in out.stderr
