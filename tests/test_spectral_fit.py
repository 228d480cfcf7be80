"""Spectral products and fits in SQL, on the sample sky's simulated spectra and
the real EPIC-pn spectrum of NGC 7793 ULX-4 (../shared)."""

from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.table import Table

from xmmdb_loader.products import load_products, load_responses
from xmmdb_loader.staging import LoadError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ULX4 = "spectra/ngc7793_ulx4_pn/PN_spectrum_grp20.fits"
COLUMNS = "instrument, statistic, stat, dof, qval, nbins, params, flux, flux_err, flux_unabs, flux_unabs_err, cached"


@pytest.fixture(scope="module")
def conn(dsn):
    """One connection for the module (PL/Python boots once); each test runs in a rolled-back transaction."""
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def tx(conn):
    with conn.transaction(force_rollback=True):
        yield conn


@pytest.fixture(scope="module")
def truth():
    return Table.read(SAMPLE / "truth" / "spectra.fits")


def fit(conn, sql, args=()):
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, args).fetchone()


def params(row):
    return {p["name"]: p for p in row["params"]}


def test_sample_products_are_loaded_and_linked(tx, truth):
    n, linked, complete = tx.execute(
        "SELECT count(*), count(detid), count(*) FILTER (WHERE background_id IS NOT NULL AND rmf_id IS NOT NULL"
        " AND arf_id IS NOT NULL) FROM xmm.spectrum WHERE kind = 'source'").fetchone()
    assert n == linked == complete == len(truth)
    assert tx.execute("SELECT count(DISTINCT d.srcid) FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
                      ).fetchone()[0] >= 100
    # the MOS1 and MOS2 canned RMFs have the same content: stored once, under both names
    assert tx.execute("SELECT count(*) FROM xmm.response WHERE names @> ARRAY['m1_e19_im_pall_xmmdbsim.rmf',"
                      " 'm2_e19_im_pall_xmmdbsim.rmf']").fetchone()[0] == 1
    # truth and database agree on which detection each spectrum belongs to
    row = truth[0]
    assert tx.execute("SELECT detid FROM xmm.spectrum WHERE file = %s", (row["FILE"],)).fetchone()[0] == row["DETID"]


def test_reload_is_a_no_op_and_invalidates_the_cache(tx, truth):
    row = truth[truth["INSTRUMENT"] == "PN"][-1]
    first = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"refit\": true}')", (int(row["DETID"]),))
    again = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl')", (int(row["DETID"]),))
    assert not first["cached"] and again["cached"] and again["stat"] == first["stat"]
    assert fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"refit\": true}')",
               (int(row["DETID"]),))["cached"] is False
    files = sorted((SAMPLE / "products").glob(row["FILE"].replace("SRSPEC", "*")))
    summary = load_products(tx, files, progress=False)
    assert summary["spectrum"] == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert tx.execute("SELECT count(*) FROM xmm.fit_cache WHERE detid = %s", (int(row["DETID"]),)).fetchone()[0] == 0


def test_recovers_true_gamma_and_nh(tx, truth):
    """Simulated absorbed power laws (Poisson noise) fitted with phabs*powerlaw and cstat: the true
    photon index and column density lie within 3 sigma of the fit."""
    pn = truth[(truth["INSTRUMENT"] == "PN") & (truth["MODEL"] == "powerlaw")
               & (truth["COUNTS"] > 3000) & (truth["COUNTS"] < 30000)]
    assert len(pn) >= 5
    for row in pn[:5]:
        r = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"group\": 0, \"stat\": \"wstat\"}')",
                (int(row["DETID"]),))
        p = params(r)
        for name, true in (("powerlaw.PhoIndex", row["GAMMA"]), ("phabs.nH", row["NH"])):
            value, err = p[name]["value"], p[name]["error_hi"]
            assert abs(value - true) < 3 * err + 1e-3, (row["FILE"], name, value, err, true)
        assert r["flux"] == pytest.approx(row["FLUX"], rel=0.15)


def test_recovers_bremsstrahlung_temperature(tx, truth):
    row = truth[(truth["MODEL"] == "bremss") & (truth["INSTRUMENT"] == "PN")][-1]
    r = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_brems', '{\"group\": 0}')", (int(row["DETID"]),))
    p = params(r)
    assert r["statistic"] == "wstat"
    for name, true in (("bremss.kT", row["KT"]), ("phabs.nH", row["NH"])):
        assert abs(p[name]["value"] - true) < 3 * p[name]["error_hi"], (name, p[name], true)


def test_real_pn_spectrum_of_ngc7793_ulx4(tx, shared_data):
    """The real set (source, background, ARF, RMF beside it) loads, links to the catalogue
    detection at the extraction region's position, and fits."""
    summary = load_products(tx, [shared_data / ULX4], progress=False)
    assert summary["spectrum"]["inserted"] == 2 and summary["response"]["inserted"] == 2
    detid, is_ulx, comments = tx.execute(
        "SELECT s.detid, o.is_ulx, o.comments FROM xmm.spectrum s JOIN xmm.detection d USING (detid)"
        " JOIN xmm.source o USING (srcid) WHERE s.file = 'PN_spectrum_grp20.fits'").fetchone()
    assert is_ulx and "NGC 7793" in comments
    r = fit(tx, f"SELECT {COLUMNS} FROM xmm_fit_detection(%s, 'PN', 'phabs_pl')", (detid,))
    p = params(r)
    assert r["statistic"] == "chi2xspecvar" and r["nbins"] > 400 and 1.2 < r["stat"] / r["dof"] < 1.8
    assert p["phabs.nH"]["value"] == pytest.approx(0.20, abs=0.03)
    assert p["powerlaw.PhoIndex"]["value"] == pytest.approx(2.19, abs=0.1)
    assert 0 < p["powerlaw.PhoIndex"]["error_hi"] < 0.1
    assert r["flux"] == pytest.approx(1.7e-12, rel=0.1) and 0 < r["flux_err"] < 0.1 * r["flux"]
    assert r["flux_unabs"] > r["flux"]
    chosen = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"spectrum\": \"PN_spectrum_grp20.fits\"}')",
                 (detid,))
    assert chosen["stat"] == pytest.approx(r["stat"]) and not chosen["cached"]   # another cache key, same fit
    png = tx.execute("SELECT xmm_fit_detection_plot(%s, 'PN', 'tbabs_pl')", (detid,)).fetchone()[0]
    assert bytes(png[:8]) == b"\x89PNG\r\n\x1a\n" and len(png) > 20000


def test_options_params_stat_method(tx, truth):
    detid = int(truth[(truth["INSTRUMENT"] == "PN") & (truth["COUNTS"] > 3000)][-1]["DETID"])
    r = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', %s)",
            (detid, '{"params": {"nH": {"value": 0.05, "frozen": true}, "PhoIndex": {"value": 2, "max": 3}},'
                    ' "emin": 0.5, "emax": 7, "method": "neldermead"}'))
    p = params(r)
    assert p["phabs.nH"]["frozen"] and p["phabs.nH"]["value"] == 0.05 and p["phabs.nH"]["error_hi"] is None
    assert p["powerlaw.PhoIndex"]["max"] == 3 and (r["emin"], r["emax"]) == (0.5, 7)
    c = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"group\": 0}')", (detid,))
    assert c["statistic"] == "wstat" and c["qval"] is None
    g = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"group\": 25, \"stat\": \"chi2gehrels\","
                " \"errors\": \"conf\"}')", (detid,))
    assert g["statistic"] == "chi2gehrels" and params(g)["powerlaw.PhoIndex"]["error_lo"] < 0


def test_joint_fit_and_source_level_choice(tx, truth):
    mos = truth[truth["INSTRUMENT"] == "M1"]
    srcid = int(mos[-1]["SRCID"])
    best = fit(tx, "SELECT * FROM xmm_fit(%s, 'phabs_pl')", (srcid,))
    assert best["instrument"] == "PN"
    joint = fit(tx, "SELECT * FROM xmm_fit(%s, 'phabs_pl', '{\"joint\": true}')", (srcid,))
    assert joint["instrument"] == "PN+M1+M2" and len(joint["spectrum_ids"]) == 3
    assert joint["nbins"] > best["nbins"]


def test_a_read_only_role_can_fit_but_not_write_the_cache(tx, truth):
    detid = int(truth[truth["INSTRUMENT"] == "PN"][-2]["DETID"])
    tx.execute("SET LOCAL ROLE xmm_reader")
    assert fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"emin\": 0.31}')", (detid,))["cached"] is False
    assert fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"emin\": 0.31}')", (detid,))["cached"] is True
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with tx.transaction():
            tx.execute("DELETE FROM xmm.fit_cache")


def test_batch_over_a_query(tx):
    rows = tx.execute("""
        SELECT s.srcid, f.instrument, f.dof
          FROM xmm_search('cone(''NGC 7793'', ''20arcmin'')') s
         CROSS JOIN LATERAL xmm_fit(s.srcid, 'phabs_pl') f
         WHERE EXISTS (SELECT 1 FROM xmm.detection d JOIN xmm.spectrum p USING (detid) WHERE d.srcid = s.srcid)
    """).fetchall()
    assert len(rows) >= 3 and all(dof > 0 for _, _, dof in rows)


@pytest.mark.parametrize("sql,words", [
    ("SELECT xmm_fit(-5, 'phabs_pl')", "source -5 does not exist"),
    ("SELECT xmm_fit_detection(-5, 'PN', 'phabs_pl')", "detection -5 does not exist"),
    ("SELECT xmm_fit_detection({detid}, 'M1', 'phabs_pl')", "has no M1 spectrum"),
    ("SELECT xmm_fit_detection({detid}, 'XX', 'phabs_pl')", "instrument 'XX'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs*blackbody')", "unknown component or model 'blackbody'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"params\": {{\"gamma\": 2}}}}')",
     "unknown parameter 'gamma'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"group\": \"20\"}}')", "key 'group' must be a integer"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"refit\": 1}}')", "must be a boolean"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '[1]')", "expected a JSON object"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"emin\": 14.5, \"emax\": 15}}')", "zero counts"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"spectrum\": \"nope.fits\"}}')",
     "spectrum 'nope.fits' is not a source spectrum of detection"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"spectrum\": [1]}}')", "key 'spectrum' must be a file name or id"),
])
def test_bad_input_gives_clear_errors_and_caches_nothing(conn, truth, sql, words):
    detid = int(truth[truth["INSTRUMENT"] == "PN"][-1]["DETID"])
    with conn.transaction(force_rollback=True):
        before = conn.execute("SELECT count(*) FROM xmm.fit_cache").fetchone()[0]   # other modules may have fitted
        with pytest.raises(psycopg.Error, match=words):
            with conn.transaction():
                conn.execute(sql.format(detid=detid))
        assert conn.execute("SELECT count(*) FROM xmm.fit_cache").fetchone()[0] == before


def test_source_without_spectrum(tx):
    srcid = tx.execute("SELECT srcid FROM xmm.source o WHERE NOT EXISTS (SELECT 1 FROM xmm.detection d"
                       " JOIN xmm.spectrum s USING (detid) WHERE d.srcid = o.srcid) LIMIT 1").fetchone()[0]
    with pytest.raises(psycopg.Error, match=f"source {srcid} has no spectrum"):
        tx.execute("SELECT xmm_fit(%s, 'phabs_pl')", (srcid,))


def test_missing_canned_rmf_is_named(tx, tmp_path, truth):
    from astropy.io import fits

    name = truth[0]["FILE"]
    src = SAMPLE / "products" / name
    with fits.open(src) as hdul:
        hdul[1].header["RESPFILE"] = "epn_e99_nosuch_v1.rmf"
        hdul.writeto(tmp_path / name.replace(".FTZ", ".FIT"))
    for other in ("BGSPEC", "SRCARF"):
        (tmp_path / name.replace("SRSPEC", other)).write_bytes((SAMPLE / "products" / name.replace("SRSPEC", other)).read_bytes())
    with pytest.raises(psycopg.Error, match="RMF epn_e99_nosuch_v1.rmf \\(RESPFILE\\) is not in the response store"):
        load_products(tx, [tmp_path / name.replace(".FTZ", ".FIT")], progress=False)


def test_load_errors_name_the_file(tx, tmp_path):
    bad = tmp_path / "P0693760101PNS001SRSPEC0001.FTZ"
    bad.write_bytes(b"not fits")
    with pytest.raises(LoadError, match="P0693760101PNS001SRSPEC0001.FTZ: cannot read"):
        load_products(tx, [bad], progress=False)
    with pytest.raises(LoadError, match="a spectrum, not a response"):
        load_responses(tx, [SAMPLE / "products" / sorted(p.name for p in (SAMPLE / "products").glob("*SRSPEC*"))[0]],
                       progress=False)
    assert np.isfinite(tx.execute("SELECT count(*) FROM xmm.spectrum").fetchone()[0])
