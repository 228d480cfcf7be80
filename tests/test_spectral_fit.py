"""Spectral products and fits in SQL, on the sample sky's simulated spectra and
the real EPIC-pn spectrum of NGC 7793 ULX-4 (../shared)."""

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.table import Table

from xmmdb_loader.products import load_products, load_responses
from xmmdb_loader.staging import LoadError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
ULX4 = "spectra/ngc7793_ulx4_pn/PN_spectrum_grp20.fits"
# grppha `group min 20` + XSPEC's filtering, computed without xmmdb: tests/reference/ulx4_grppha.py
REFERENCE = json.loads((Path(__file__).parent / "reference" / "ulx4_grppha.json").read_text())
SAME_PARAMETER = {"phabs.nH": "phabs.nH", "powerlaw.PhoIndex": "pl.gamma", "powerlaw.norm": "pl.ampl"}
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
               & (truth["COUNTS"] > 1500) & (truth["COUNTS"] < 40000)]
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
    # the default range of the pn, 0.2-12 keV: the 0.2-0.3 keV groups fit badly (chi2 1088.16
    # for 412 dof, as the reference script gives with that range)
    assert r["instrument"] == "EPN" and r["statistic"] == "chi2xspecvar" and r["nbins"] == 415
    assert r["stat"] == pytest.approx(1088.16, abs=0.05)
    r = fit(tx, f"SELECT {COLUMNS} FROM xmm_fit_detection(%s, 'EPN', 'phabs_pl', '{{\"emin\": 0.3, \"emax\": 10}}')",
            (detid,))
    p = params(r)
    assert p["phabs.nH"]["value"] == pytest.approx(0.20, abs=0.03)
    assert p["powerlaw.PhoIndex"]["value"] == pytest.approx(2.19, abs=0.1)
    assert 0 < p["powerlaw.PhoIndex"]["error_hi"] < 0.1
    assert r["flux"] == pytest.approx(1.7e-12, rel=0.1) and 0 < r["flux_err"] < 0.1 * r["flux"]
    assert r["flux_unabs"] > r["flux"]
    chosen = fit(tx, "SELECT * FROM xmm_fit_detection(%s, 'PN', 'phabs_pl', '{\"spectrum\": \"PN_spectrum_grp20.fits\", "
                     "\"emin\": 0.3, \"emax\": 10}')",
                 (detid,))
    assert chosen["stat"] == pytest.approx(r["stat"]) and not chosen["cached"]   # another cache key, same fit
    png = tx.execute("SELECT xmm_fit_detection_plot(%s, 'PN', 'tbabs_pl')", (detid,)).fetchone()[0]
    assert bytes(png[:8]) == b"\x89PNG\r\n\x1a\n" and len(png) > 20000


def ulx4_spectrum_id(tx, shared_data) -> int:
    load_products(tx, [shared_data / ULX4], progress=False)
    return tx.execute("SELECT spectrum_id FROM xmm.spectrum WHERE file = 'PN_spectrum_grp20.fits'").fetchone()[0]


def assert_as_reference(r, reference=REFERENCE):
    """Each parameter within 0.05 sigma of the reference, the statistic within 0.05."""
    p = params(r)
    assert (r["nbins"], r["dof"]) == (reference["nbins"], reference["dof"])
    for ours, theirs in SAME_PARAMETER.items():
        ref = reference["params"][theirs]
        assert abs(p[ours]["value"] - ref["value"]) <= 0.05 * ref["sigma"], (ours, p[ours]["value"], ref)
        assert p[ours]["error_hi"] == pytest.approx(ref["sigma"], rel=0.05)
    assert r["stat"] == pytest.approx(reference["stat"], abs=0.05)


def test_grouping_is_grppha_and_the_filter_keeps_whole_groups(tx, shared_data):
    """"group": 20 groups the whole channel range (an incomplete last group is bad) and the
    energy filter keeps whole groups: the real ULX-4 fit equals the grppha + XSPEC reference.
    Grouping inside the range only (the earlier way) gave 14 counts in the last bin, moved
    Gamma by 0.29 sigma and chi2 by 6.9."""
    sid = ulx4_spectrum_id(tx, shared_data)
    r = fit(tx, "SELECT * FROM xmm_fit_spectrum(%s, 'phabs_pl', '{\"emin\": 0.3, \"emax\": 10, \"group\": 20}')",
            (sid,))
    assert r["statistic"] == "chi2xspecvar" and r["instrument"] == "EPN"
    assert_as_reference(r)


def test_the_file_grouping_is_used_on_request(tx, shared_data):
    """"group": "file" fits with the spectrum's own GROUPING and QUALITY: as Sherpa's UI reads the file."""
    import logging

    from sherpa.astro import ui

    sid = ulx4_spectrum_id(tx, shared_data)
    r = fit(tx, "SELECT * FROM xmm_fit_spectrum(%s, 'phabs_pl', '{\"emin\": 0.3, \"emax\": 10, \"group\": \"file\"}')",
            (sid,))
    logging.getLogger("sherpa").setLevel(logging.ERROR)
    ui.clean()
    ui.load_pha(1, str(shared_data / ULX4))     # grouped as the file says
    ui.ignore_bad(1)
    ui.notice(0.3, 10.0)
    assert r["nbins"] == len(ui.get_dep(1, filter=True)) and r["nbins"] != REFERENCE["nbins"]
    ui.clean()
    with pytest.raises(psycopg.Error, match="no GROUPING column"):
        bkg = tx.execute("SELECT spectrum_id FROM xmm.spectrum WHERE detid IS NOT NULL AND grouping IS NULL"
                         " AND kind = 'source' LIMIT 1").fetchone()[0]
        with tx.transaction():
            tx.execute("SELECT xmm_fit_spectrum(%s, 'phabs_pl', '{\"group\": \"file\"}')", (bkg,))


def rewritten(source: Path, target: Path, **keywords) -> Path:
    """A copy of a spectrum with header keywords changed (None: removed)."""
    from astropy.io import fits

    with fits.open(source) as hdul:
        for key, value in keywords.items():
            if value is None:
                hdul["SPECTRUM"].header.remove(key, ignore_missing=True)
            else:
                hdul["SPECTRUM"].header[key] = value
        hdul.writeto(target)
    return target


def test_a_spectrum_naming_no_files_loads_with_them_named_and_fits_unlinked(tx, shared_data, tmp_path, capsys):
    """RESPFILE/ANCRFILE = NONE, no BACKFILE, an observation not in the catalogue: the files are
    named on the command line, the spectrum is stored unlinked with a warning, and fits by its id."""
    folder = shared_data / ULX4.rsplit("/", 1)[0]
    mine = rewritten(folder / "PN_spectrum_grp20.fits", tmp_path / "my_ulx4.pha", RESPFILE="NONE", ANCRFILE="NONE",
                     BACKFILE=None, OBS_ID="0999999999")
    with pytest.raises(psycopg.Error, match="my_ulx4.pha: the spectrum names no RMF"):
        with tx.transaction():
            load_products(tx, [mine], progress=False)
    load_products(tx, [mine], progress=False, rmf=folder / "PN.rmf", arf=folder / "PN.arf",
                  bkg=folder / "PNbackground_spectrum.fits")
    assert "linked to no catalogue detection" in capsys.readouterr().err
    sid, detid, respfile, background = tx.execute(
        "SELECT spectrum_id, detid, respfile, background_id FROM xmm.spectrum WHERE file = 'my_ulx4.pha'").fetchone()
    assert detid is None and respfile == "PN.rmf" and background is not None
    r = fit(tx, "SELECT * FROM xmm_fit_spectrum(%s, 'phabs_pl', '{\"emin\": 0.3, \"emax\": 10}')", (sid,))
    assert_as_reference(r)
    assert r["detid"] is None and r["obs_id"] == "0999999999"
    png = tx.execute("SELECT xmm_fit_spectrum_plot(%s, 'phabs_pl')", (sid,)).fetchone()[0]
    assert bytes(png[:8]) == b"\x89PNG\r\n\x1a\n"
    # --arf NONE: no ARF at all (the fit then has the RMF only)
    other = rewritten(folder / "PN_spectrum_grp20.fits", tmp_path / "no_arf.pha", RESPFILE="/home/me/PN.rmf",
                      ANCRFILE="/home/me/PN.arf", BACKFILE=None, OBS_ID="0999999999")
    load_products(tx, [other], progress=False, rmf=folder / "PN.rmf", arf="NONE")
    assert tx.execute("SELECT arf_id, ancrfile FROM xmm.spectrum WHERE file = 'no_arf.pha'").fetchone() == (None, None)


def test_a_response_is_linked_by_content_never_by_a_shared_name(tx, shared_data, tmp_path):
    """A spectrum naming PN.rmf, without the file, is not given another observation's PN.rmf;
    a name shared by two canned RMFs of different content is refused, naming both."""
    from astropy.io import fits

    ulx4_spectrum_id(tx, shared_data)           # its PN.rmf is in the store, loaded with it
    folder = shared_data / ULX4.rsplit("/", 1)[0]
    (tmp_path / "elsewhere").mkdir()
    alone = rewritten(folder / "PN_spectrum_grp20.fits", tmp_path / "elsewhere" / "spec.pha", BACKFILE=None,
                      ANCRFILE="NONE", OBS_ID="0999999998")
    with pytest.raises(psycopg.Error, match="RMF PN.rmf \\(RESPFILE\\) is neither beside the spectrum nor a canned RMF"
                                            ".*1 response\\(s\\) loaded with other spectra have that name"):
        with tx.transaction():
            load_products(tx, [alone], progress=False)
    # two canned RMFs named PN.rmf with different content
    for i, scale in enumerate((1.0, 1.001)):
        (tmp_path / f"store{i}").mkdir()
        with fits.open(folder / "PN.rmf") as hdul:
            hdul["EBOUNDS"].data["E_MIN"] *= scale
            hdul.writeto(tmp_path / f"store{i}" / "PN.rmf")
        load_responses(tx, [tmp_path / f"store{i}" / "PN.rmf"], progress=False)
    with pytest.raises(psycopg.Error, match="RMF PN.rmf \\(RESPFILE\\) names 2 different canned RMFs: PN.rmf \\(response"):
        with tx.transaction():
            load_products(tx, [alone], progress=False)


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
    assert best["instrument"] == "EPN"
    joint = fit(tx, "SELECT * FROM xmm_fit(%s, 'phabs_pl', '{\"joint\": true}')", (srcid,))
    assert joint["instrument"] == "EPN+EMOS1+EMOS2" and len(joint["spectrum_ids"]) == 3
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
    ("SELECT xmm_fit_detection({detid}, 'M1', 'phabs_pl')", "has no EMOS1 spectrum"),
    ("SELECT xmm_fit_detection({detid}, 'XX', 'phabs_pl')", "instrument 'XX'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs*blackbody')", "unknown component or model 'blackbody'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"params\": {{\"gamma\": 2}}}}')",
     "unknown parameter 'gamma'"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"group\": \"20\"}}')", "option 'group' must be a count"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"refit\": 1}}')", "must be a boolean"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '[1]')", "options must be a JSON object, not array"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"emin\": 14.5, \"emax\": 15, \"group\": 0}}')", "zero counts"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"spectrum\": \"nope.fits\"}}')",
     "spectrum 'nope.fits' is not a source spectrum of detection"),
    ("SELECT xmm_fit_detection({detid}, 'PN', 'phabs_pl', '{{\"spectrum\": [1]}}')", "option 'spectrum' must be a file name or id"),
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
    with pytest.raises(psycopg.Error, match="RMF epn_e99_nosuch_v1.rmf \\(RESPFILE\\) is neither beside the spectrum "
                                            "nor a canned RMF of the response store"):
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


def test_one_camera_vocabulary_in_sql_and_python(conn):
    """xmm.camera() and xmmdb.instruments.camera() are one table."""
    from xmmdb.instruments import CAMERAS, SPELLINGS, camera

    for name in [*SPELLINGS, "pn", " m1 ", "Emos2", "MOS", "EPIC", "", "X"]:
        assert conn.execute("SELECT xmm.camera(%s)", (name,)).fetchone()[0] == camera(name), name
    assert set(SPELLINGS.values()) == set(CAMERAS)
    assert {r[0] for r in conn.execute("SELECT DISTINCT instrument FROM xmm.spectrum")} <= set(CAMERAS)
