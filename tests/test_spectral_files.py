"""Stored spectra and responses handed out as OGIP files again (xmm_spectrum_file,
xmm_response_file): the real NGC 7793 ULX-4 pn set round-trips array for array against the
original files, and the four files saved side by side load in Sherpa as one dataset that fits
as the archive fits it."""

import numpy as np
import pytest
from astropy.io import fits
from test_spectral_fit import ULX4, conn, tx  # noqa: F401 - shared fixtures

from xmmdb_loader.products import load_products

FOLDER = "spectra/ngc7793_ulx4_pn"


def dense(hdul) -> np.ndarray:
    """An RMF's matrix as a dense (energies x channels) array, from its compressed rows."""
    m, e = hdul["MATRIX"].data, hdul["EBOUNDS"].data
    offset = hdul["MATRIX"].header.get(f"TLMIN{m.columns.names.index('F_CHAN') + 1}", 1)
    out = np.zeros((len(m), len(e)), np.float32)
    for i, row in enumerate(m):
        f, n, v, k = np.atleast_1d(row["F_CHAN"]), np.atleast_1d(row["N_CHAN"]), np.asarray(row["MATRIX"]), 0
        for g in range(int(row["N_GRP"])):
            out[i, f[g] - offset:f[g] - offset + n[g]] = v[k:k + n[g]]
            k += n[g]
    return out


def stored(tx, shared_data):
    load_products(tx, [shared_data / ULX4], progress=False)
    return tx.execute("SELECT spectrum_id, background_id, rmf_id, arf_id FROM xmm.spectrum "
                      "WHERE file = 'PN_spectrum_grp20.fits'").fetchone()


def test_real_spectrum_and_responses_round_trip(tx, shared_data, tmp_path):
    spectrum_id, background_id, rmf_id, arf_id = stored(tx, shared_data)
    folder = shared_data / FOLDER
    files = {}
    for kind, ident in (("spectrum", spectrum_id), ("spectrum", background_id), ("response", rmf_id),
                        ("response", arf_id)):
        data = tx.execute(f"SELECT xmm_{kind}_file(%s)", (ident,)).fetchone()[0]
        path = tmp_path / f"xmmdb_{kind}_{ident}.fits"
        path.write_bytes(bytes(data))
        files[(kind, ident)] = path
    with fits.open(folder / "PN_spectrum_grp20.fits") as orig, fits.open(files["spectrum", spectrum_id]) as mine:
        assert mine[1].header["BACKFILE"] == f"xmmdb_spectrum_{background_id}.fits"
        assert mine[1].header["RESPFILE"] == f"xmmdb_response_{rmf_id}.fits"
        assert mine[1].header["ANCRFILE"] == f"xmmdb_response_{arf_id}.fits"
        for key in ("EXPOSURE", "BACKSCAL", "AREASCAL", "DETCHANS"):
            assert mine[1].header[key] == pytest.approx(orig[1].header.get(key, 1.0)), key
        # the extraction region's radius: the circle of BACKSCAL (0.05" sky pixels squared)
        radius = tx.execute("SELECT region_radius FROM xmm.spectrum WHERE spectrum_id = %s", (spectrum_id,)).fetchone()[0]
        assert radius == pytest.approx(np.sqrt(orig[1].header["BACKSCAL"] / np.pi) * 0.05, rel=1e-12)
        for col in ("CHANNEL", "COUNTS", "QUALITY", "GROUPING"):
            assert np.array_equal(mine[1].data[col], orig[1].data[col]), col
        assert mine[1].verify_checksum() == 1
    with fits.open(folder / "PN.rmf") as orig, fits.open(files["response", rmf_id]) as mine:
        assert np.array_equal(dense(mine), dense(orig))
        for col in ("E_MIN", "E_MAX"):
            assert np.array_equal(mine["EBOUNDS"].data[col], orig["EBOUNDS"].data[col])
        assert np.array_equal(mine["MATRIX"].data["ENERG_LO"], orig["MATRIX"].data["ENERG_LO"])
    with fits.open(folder / "PN.arf") as orig, fits.open(files["response", arf_id]) as mine:
        assert np.array_equal(mine["SPECRESP"].data["SPECRESP"], orig["SPECRESP"].data["SPECRESP"])

    # Saved side by side they are one dataset for Sherpa: background and responses found by name.
    from sherpa.astro import ui

    ui.clean()
    ui.load_pha(1, str(files["spectrum", spectrum_id]))
    ui.set_stat("chi2xspecvar")
    ui.subtract()
    ui.notice(0.3, 10.0)
    assert ui.get_bkg().counts.sum() == fits.getdata(folder / "PNbackground_spectrum.fits", 1)["COUNTS"].sum()
    assert ui.get_rmf().detchans == 4096 and ui.get_arf().specresp.size == ui.get_rmf().energ_lo.size
    ui.clean()


def test_a_missing_spectrum_is_an_error_for_humans(tx):
    with pytest.raises(Exception, match="spectrum -1 does not exist"):
        tx.execute("SELECT xmm_spectrum_file(-1)")
