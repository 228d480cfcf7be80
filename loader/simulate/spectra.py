"""EPIC spectra of the sample sky, in the pipeline (PPS) formats.

For the detections with SPECTRA true and the most counts (and every planted
ULX), a source spectrum, a background spectrum and an ARF per camera:

    products/P<obsid>PNS001SRSPEC<src>.FTZ   source spectrum (OGIP PHA type I, gzip)
    products/P<obsid>PNS001BGSPEC<src>.FTZ   background spectrum (region 10x larger)
    products/P<obsid>PNS001SRCARF<src>.FTZ   ARF (mirror x filter x QE x vignetting x encircled energy)
    responses/epn_e4_ff20_sdY9_xmmdbsim.rmf.gz, m1_/m2_e19_im_pall_xmmdbsim.rmf.gz   the canned RMFs
    truth/spectra.fits                       the true model and parameters of every simulated spectrum

The responses are synthetic but shaped like EPIC's: pn 4096 channels of 5 eV,
MOS 800 channels of 15 eV, Gaussian redistribution with FWHM ~ 80 / 70 eV at
1 keV; effective area from a Wolter mirror curve (Au M edge), a Medium filter,
the pn (280 um) and MOS (40 um, thick dead layer) silicon QE with the Si K
edge, off-axis vignetting. Source spectra are absorbed power laws with the
true GAMMA and NH of the detection's epoch (truth/epochs.fits, truth/sources.fits)
normalised to its FLUX (absorbed, 0.2-12 keV), and
thermal bremsstrahlung for extended sources; Poisson noise. The physics is
xmmdb's own Sherpa models (xmmdb.spectral.models), so a fit recovers the truth.

The module draws from its own generator derived from the seed: the catalogue
part of the sample does not change when this module does.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

N_PN = 100          # sources with a pn spectrum (of their detection with the most counts), plus every ULX
N_MOS = 4           # the brightest of them also get MOS1 and MOS2 spectra (joint fits)
RMF_NAMES = {"PN": "epn_e4_ff20_sdY9_xmmdbsim.rmf", "M1": "m1_e19_im_pall_xmmdbsim.rmf",
             "M2": "m2_e19_im_pall_xmmdbsim.rmf"}
INSTRUME = {"PN": "EPN", "M1": "EMOS1", "M2": "EMOS2"}
SOURCE_BACKSCAL = 5.0e5          # 20" radius in 0.05" sky pixels
BACKGROUND_BACKSCAL = 5.0e6
BKG_RATE = {"PN": 4.0e-6, "M1": 1.2e-6, "M2": 1.2e-6}   # counts/s/keV per 1e5 BACKSCAL units (flat part)


def energy_grid() -> tuple[np.ndarray, np.ndarray]:
    e = np.geomspace(0.05, 15.0, 701)
    return e[:-1], e[1:]


def channels(inst: str) -> tuple[int, float]:
    return (4096, 0.005) if inst == "PN" else (800, 0.015)


def fwhm(inst: str, e):
    return (0.040 + 0.045 * np.sqrt(e)) if inst == "PN" else (0.030 + 0.040 * np.sqrt(e))


def rmf_arrays(inst: str) -> dict:
    """Gaussian redistribution on the channel grid, compressed (one group per energy)."""
    lo, hi = energy_grid()
    n, width = channels(inst)
    mid = 0.5 * (lo + hi)
    sig = fwhm(inst, mid) / 2.3548
    edges = np.arange(n + 1) * width
    from scipy.special import erf

    f_chan, n_chan, rows = [], [], []
    for e, s in zip(mid, sig):
        c0 = min(max(int((e - 4 * s) / width), 0), n - 1)
        c1 = max(min(int((e + 4 * s) / width) + 1, n - 1), c0)
        cdf = 0.5 * (1 + erf((edges[c0:c1 + 2] - e) / (np.sqrt(2) * s)))
        p = np.diff(cdf)      # photons redistributed beyond the last channel are lost, as in a real RMF
        f_chan.append(c0)
        n_chan.append(len(p))
        rows.append(np.round(p, 6).astype(np.float32))
    return dict(lo=lo, hi=hi, f_chan=np.array(f_chan), n_chan=np.array(n_chan), rows=rows, detchans=n,
                e_min=edges[:-1], e_max=edges[1:])


def _silicon_length_um(e):
    """Attenuation length of silicon (um), power-law approximation with the K edge at 1.839 keV."""
    above = 134.0 * (e / 10.0) ** 2.75
    below = above * 10.5
    return np.where(e >= 1.839, above, below)


def effective_area(inst: str, lo, hi, offax_arcmin: float = 0.0) -> np.ndarray:
    e = 0.5 * (lo + hi)
    mirror = 1500.0 / (1.0 + (e / 6.5) ** 3.2) * np.where(e > 2.21, 1.0 - 0.12 * np.exp(-(e - 2.21) / 2.5), 1.0)
    mirror *= 1.0 - np.exp(-(e / 0.12) ** 1.5)
    filt = np.exp(-(0.26 / e) ** 2.2) * np.where(e > 0.543, 0.93, 1.0) * np.where(e > 1.56, 0.97, 1.0)
    lam = _silicon_length_um(e)
    if inst == "PN":
        qe = np.exp(-0.03 / lam) * (1.0 - np.exp(-280.0 / lam))
    else:
        qe = np.exp(-0.35 / lam) * (1.0 - np.exp(-40.0 / lam))
        mirror = mirror * 0.44   # the RGS gratings take the rest of the MOS mirrors' light
    vignetting = 1.0 - 0.45 * (offax_arcmin / 15.0) ** 2 * (1.0 + 0.04 * e)
    encircled = 0.85
    area = mirror * filt * qe * vignetting * encircled
    scale = 10.0 ** (np.floor(np.log10(np.maximum(area, 1e-9))) - 2)   # 3 significant digits
    return (np.round(area / scale) * scale).astype(np.float32)


def fold(rmf: dict, photons_per_bin: np.ndarray) -> np.ndarray:
    """Expected counts per channel of photons (per energy bin) through the redistribution."""
    out = np.zeros(rmf["detchans"])
    for k, (c0, p) in enumerate(zip(rmf["f_chan"], rmf["rows"])):
        out[c0:c0 + len(p)] += photons_per_bin[k] * p
    return out


def _gzip_fits(hdul, path: Path) -> None:
    buf = io.BytesIO()
    hdul.writeto(buf)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())


def _rmf_hdul(inst: str, rmf: dict):
    from astropy.io import fits

    n = len(rmf["lo"])
    matrix = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", unit="keV", array=rmf["lo"]),
        fits.Column("ENERG_HI", "E", unit="keV", array=rmf["hi"]),
        fits.Column("N_GRP", "I", array=np.ones(n)),
        fits.Column("F_CHAN", "I", array=rmf["f_chan"]),
        fits.Column("N_CHAN", "I", array=rmf["n_chan"]),
        fits.Column("MATRIX", "PE()", array=np.array(rmf["rows"], dtype=object)),
    ], name="MATRIX")
    ebounds = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "I", array=np.arange(rmf["detchans"])),
        fits.Column("E_MIN", "E", unit="keV", array=rmf["e_min"]),
        fits.Column("E_MAX", "E", unit="keV", array=rmf["e_max"]),
    ], name="EBOUNDS")
    for h, cls2 in ((matrix, "RSP_MATRIX"), (ebounds, "EBOUNDS")):
        h.header.update(TELESCOP="XMM", INSTRUME=INSTRUME[inst], FILTER="Medium", CHANTYPE="PI",
                        DETCHANS=rmf["detchans"], HDUCLASS="OGIP", HDUCLAS1="RESPONSE", HDUCLAS2=cls2,
                        HDUCLAS3="REDIST", HDUVERS="1.3.0", ORIGIN="xmmdb simulate")
    matrix.header["TLMIN4"] = 0
    matrix.header["LO_THRES"] = 1e-6
    return fits.HDUList([fits.PrimaryHDU(), matrix, ebounds])


def _arf_hdul(inst: str, lo, hi, area):
    from astropy.io import fits

    h = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", unit="keV", array=lo), fits.Column("ENERG_HI", "E", unit="keV", array=hi),
        fits.Column("SPECRESP", "E", unit="cm**2", array=area)], name="SPECRESP")
    h.header.update(TELESCOP="XMM", INSTRUME=INSTRUME[inst], FILTER="Medium", HDUCLASS="OGIP",
                    HDUCLAS1="RESPONSE", HDUCLAS2="SPECRESP", HDUVERS="1.1.0", ORIGIN="xmmdb simulate")
    return fits.HDUList([fits.PrimaryHDU(), h])


def _pha_hdul(inst: str, counts, header: dict):
    from astropy.io import fits

    n = len(counts)
    h = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "I", array=np.arange(n)), fits.Column("COUNTS", "J", unit="count", array=counts)],
        name="SPECTRUM")
    h.header.update(TELESCOP="XMM", INSTRUME=INSTRUME[inst], FILTER="Medium", HDUCLASS="OGIP",
                    HDUCLAS1="SPECTRUM", HDUCLAS3="COUNT", HDUVERS="1.1.0", CHANTYPE="PI", DETCHANS=n,
                    POISSERR=True, SYS_ERR=0, AREASCAL=1.0, CORRSCAL=1.0, TLMIN1=0, TLMAX1=n - 1,
                    ORIGIN="xmmdb simulate")
    h.header.update(header)
    primary = fits.PrimaryHDU()
    primary.header.update(TELESCOP="XMM", INSTRUME=INSTRUME[inst], OBS_ID=header["OBS_ID"],
                          ORIGIN="xmmdb simulate")
    return fits.HDUList([primary, h])


def _source_photons(lo, hi, model: str, gamma: float, nh: float, kt: float, flux: float) -> np.ndarray:
    """Photons/cm2/s per energy bin of the true model, normalised to its absorbed 0.2-12 keV flux."""
    from xmmdb.spectral import models

    built = models.build("phabs*powerlaw" if model == "powerlaw" else "phabs*bremss")
    absorber, emission = built.components
    absorber.nH.val = nh
    if model == "powerlaw":
        emission.PhoIndex.val = gamma
    else:
        emission.kT.val = kt
    emission.norm.val = 1.0
    emission.norm.val = flux / models.energy_flux(built, None, None, 0.2, 12.0)
    return np.asarray(built.model(lo, hi), float), float(emission.norm.val)


# Detections whose real pipeline-format spectrum xmmdb's tests and docs use (../shared/data/spectra):
# (obs_id, ra, dec) of NGC 7793 ULX-4 in 0693760101. They get no simulated spectrum, so the real
# one is that detection's only spectrum once loaded.
REAL = (("0693760101", 359.4496, -32.5825),)


def _has_real_spectrum(cat, i) -> bool:
    for obs_id, ra, dec in REAL:
        if str(cat["OBS_ID"][i]) == obs_id and abs(float(cat["DEC"][i]) - dec) < 15 / 3600 and \
                abs((float(cat["RA"][i]) - ra) * np.cos(np.radians(dec))) < 15 / 3600:
            return True
    return False


def write_spectra(out: Path, cat, epochs, truth, seed: int) -> int:
    """Writes products/, responses/ and truth/spectra.fits; returns the number of source spectra."""
    from astropy.table import Table

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5bec7]))   # this module's own stream
    out = Path(out)
    (out / "products").mkdir(parents=True, exist_ok=True)
    (out / "responses").mkdir(parents=True, exist_ok=True)
    for old in (out / "products").glob("P*.FTZ"):
        old.unlink()
    rmfs = {inst: rmf_arrays(inst) for inst in ("PN", "M1")}
    rmfs["M2"] = rmfs["M1"]
    for inst, name in RMF_NAMES.items():
        _gzip_fits(_rmf_hdul(inst, rmfs[inst]), out / "responses" / f"{name}.gz")

    spectra = np.asarray(cat["SPECTRA"], bool) & ~np.asarray(cat["CONFUSED"], bool)   # one source's spectrum
    cts = np.asarray(cat["EP_8_CTS"], float)
    ulx = np.asarray(cat["IS_ULX"], bool)
    order = np.argsort(-cts, kind="stable")
    srcids = np.asarray(cat["SRCID"])
    best = {}   # each source's detection with the most counts
    for i in order:
        if spectra[i] and not _has_real_spectrum(cat, i):
            best.setdefault(int(srcids[i]), i)
    ranked = sorted(best.values(), key=lambda i: -cts[i])
    chosen = ranked[:N_PN] + [i for i in ranked[N_PN:] if ulx[i]]
    mos = set(chosen[:N_MOS])
    # The truth of each detection's epoch (an unconfused detection has one source).
    at_det = {int(d): k for k, d in enumerate(np.asarray(epochs["DETID"])) if d > 0}
    true_row = np.asarray(epochs["TRUE_ID"]) - 1
    t_nh = np.asarray(truth["NH"], float) / 1e22
    lo, hi = energy_grid()
    rows = []
    for i in chosen:
        srcid, detid = int(cat["SRCID"][i]), int(cat["DETID"][i])
        obs_id, src_num = str(cat["OBS_ID"][i]), int(cat["SRC_NUM"][i])
        extended = float(cat["EP_EXTENT"][i]) > 0
        model = "bremss" if extended else "powerlaw"
        k = at_det[detid]
        gamma, nh, flux, kt = float(epochs["GAMMA"][k]), float(t_nh[true_row[k]]), float(epochs["FLUX"][k]), 5.0
        photons, norm = _source_photons(lo, hi, model, gamma, nh, kt, flux)
        offax = float(cat["PN_OFFAX"][i])
        for inst in ("PN", "M1", "M2") if i in mos else ("PN",):
            rmf = rmfs[inst]
            exposure = round(float(cat[f"{inst}_ONTIME"][i]) * (0.94 if inst == "PN" else 0.98), 2)   # live time
            area = effective_area(inst, lo, hi, offax)
            expected = fold(rmf, photons * area * exposure)
            n_chan, width = channels(inst)
            e_mid = (np.arange(n_chan) + 0.5) * width
            bkg_shape = BKG_RATE[inst] * width * (1.0 + 0.5 * np.exp(-e_mid / 0.4)) * (e_mid > 0.1)
            for line, strength in ((1.486, 0.02), (8.04, 0.06 if inst == "PN" else 0.0), (1.74, 0.015)):
                bkg_shape += BKG_RATE[inst] * strength * np.exp(-0.5 * ((e_mid - line) / 0.05) ** 2)
            bkg_expected = bkg_shape * exposure
            src_counts = rng.poisson(expected + bkg_expected * SOURCE_BACKSCAL / 1e5)
            bkg_counts = rng.poisson(bkg_expected * BACKGROUND_BACKSCAL / 1e5)
            stem = f"P{obs_id}{inst}S001"
            tag = f"{src_num:04X}"
            names = {k: f"{stem}{k}{tag}.FTZ" for k in ("SRSPEC", "BGSPEC", "SRCARF")}
            header = dict(OBS_ID=obs_id, EXPIDSTR="S001", EXPOSURE=exposure, BACKFILE=names["BGSPEC"],
                          RESPFILE=RMF_NAMES[inst], ANCRFILE=names["SRCARF"], SRC_NUM=src_num,
                          RA_OBJ=float(cat["RA"][i]), DEC_OBJ=float(cat["DEC"][i]))
            _gzip_fits(_pha_hdul(inst, src_counts, {**header, "HDUCLAS2": "TOTAL", "BACKSCAL": SOURCE_BACKSCAL}),
                       out / "products" / names["SRSPEC"])
            _gzip_fits(_pha_hdul(inst, bkg_counts, {**header, "HDUCLAS2": "BKG", "BACKSCAL": BACKGROUND_BACKSCAL,
                                                    "BACKFILE": "NONE", "ANCRFILE": "NONE"}),
                       out / "products" / names["BGSPEC"])
            _gzip_fits(_arf_hdul(inst, lo, hi, area.astype(np.float32)), out / "products" / names["SRCARF"])
            rows.append((detid, srcid, obs_id, src_num, inst, names["SRSPEC"], model, gamma, nh, kt, norm, flux,
                         exposure, int(src_counts.sum()), bool(ulx[i])))
    table = Table(rows=rows, names=("DETID", "SRCID", "OBS_ID", "SRC_NUM", "INSTRUMENT", "FILE", "MODEL", "GAMMA",
                                    "NH", "KT", "NORM", "FLUX", "EXPOSURE", "COUNTS", "IS_ULX"))
    table["NH"].unit = "1e22 cm-2"
    table["KT"].unit = "keV"
    table["FLUX"].unit = "erg cm-2 s-1"
    table["EXPOSURE"].unit = "s"
    table.meta.update(EXTNAME="SPECTRA", ORIGIN="xmmdb simulate")
    table.write(out / "truth" / "spectra.fits", overwrite=True)
    return len(rows)
