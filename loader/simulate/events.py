"""Pipeline-format EPIC event lists of the simulated sky, and orbit files.

The catalogue's true sources (truth table: RA, DEC, FLUX, GAMMA, NH, EXTENT)
are observed through the product's PSF model (xmmdb.photons.psf: a King
profile per camera, energy and off-axis angle, so that aperture photometry is
exact on the sample) and one vignetting, the same at every energy, with
energies drawn from their absorbed power laws times an EPIC-like effective
area, over a particle + cosmic background, inside GTIs with gaps. A few sources
vary within the exposure and one source in M31 is a pulsar (P = 1.2 s, pulsed
fraction 40 %, phase coherent in barycentric time so that barycentring
sharpens it); what was planted is in truth/events.json. Files:
events/P<obsid><PN|M1><S…>[PM]IEVLI0000.FTZ (gzip, byte-reproducible),
events/P<obsid>OBX000ORBTSR0000.FTZ and each event list's exposure maps,
expmaps/P<obsid><PN|M1><S…>EXPMAP<band>000.FTZ (expmaps.py), and the canned
on-axis ARFs of the events' area curve, responses/<pn|m1|m2>_onaxis_xmmdbsim.arf.gz.

`simulate_exposure` is also the photon generator of the photon benchmark.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmmdb.instruments import FOV_ARCMIN, MJDREF, STANDARD_SELECTION
from xmmdb.photons import psf
from xmmdb.photons.psf import draw_radii
from xmmdb.photons.sky import deproject, offsets

PIX_DEG = 0.05 / 3600.0            # sky X/Y pixel
X_REF = 25921.0                    # TCRPX of X and Y in pipeline event lists
C_KM_S = 299792.458


@dataclass(frozen=True)
class Camera:
    instrument: str     # INSTRUME
    tag: str            # file-name code
    product: str        # PIEVLI / MIEVLI
    ecf: float          # counts/s per erg/cm2/s, 0.2-12 keV
    frame_s: float      # frame time (full frame)
    n_ccd: int
    bkg: float          # background counts/s/arcmin^2
    patterns: tuple     # (values, probabilities)


CAMERAS = {
    "EPN": Camera("EPN", "PN", "PIEVLI", 7.0e11, 0.0734, 12, 1.0e-3,
                  ((0, 1, 2, 3, 4, 5, 8, 12), (0.70, 0.07, 0.07, 0.06, 0.05, 0.02, 0.02, 0.01))),
    "EMOS1": Camera("EMOS1", "M1", "MIEVLI", 2.5e11, 2.6, 7, 0.35e-3,
                    ((0, 1, 2, 3, 4, 6, 12, 25), (0.62, 0.1, 0.1, 0.08, 0.06, 0.02, 0.01, 0.01))),
    "EMOS2": Camera("EMOS2", "M2", "MIEVLI", 2.5e11, 2.6, 7, 0.35e-3,
                    ((0, 1, 2, 3, 4, 6, 12, 25), (0.62, 0.1, 0.1, 0.08, 0.06, 0.02, 0.01, 0.01))),
}
FLAGS = (np.array([0, 0x1, 0x2, 0x20, 0x100, 0x10000]), np.array([0.95, 0.01, 0.02, 0.01, 0.005, 0.005]))

# The bundled sample: two M31 pointings (pn + MOS1, pn) and one of NGC 5408 (MOS1).
SAMPLE_EXPOSURES = (("0112570101", "EPN", "S003"), ("0112570101", "EMOS1", "S001"),
                    ("0112570201", "EPN", "S003"), ("0112290601", "EMOS1", "S001"))
SAMPLE_SECONDS = 5000.0
PULSAR = dict(period_s=1.2, pulsed_fraction=0.4, flux=6e-13)
M31 = (10.6847, 41.2690)

_E = np.geomspace(0.2, 12.0, 600)   # keV


def effective_area_shape(e_kev):
    """Relative EPIC effective area: rising through the soft band, falling above ~7 keV."""
    return (1 - np.exp(-(e_kev / 0.45) ** 2)) * np.exp(-(e_kev / 9.0) ** 1.6)


# Canned on-axis ARFs of the sample (responses/): the events' own area curve, so that the flux
# conversions of upper limits agree with the planted fluxes for the reference spectrum.
ONAXIS_ARF_NAMES = {"EPN": "pn_onaxis_xmmdbsim.arf", "EMOS1": "m1_onaxis_xmmdbsim.arf",
                    "EMOS2": "m2_onaxis_xmmdbsim.arf"}
REFERENCE_SPECTRUM = (1.7, 3e20)     # photon index, nH (cm-2): the 4XMM catalogue's


def selected_fraction(camera: Camera) -> float:
    """The fraction of the camera's events the standard selection keeps (PATTERN, FLAG)."""
    top, mask = STANDARD_SELECTION[camera.instrument]
    values, prob = camera.patterns
    return (sum(p for v, p in zip(values, prob) if v <= top)
            * sum(p for v, p in zip(*FLAGS) if not int(v) & mask))


def onaxis_area(camera: Camera, lo, hi) -> np.ndarray:
    """Effective area (cm2) on the energy bins lo..hi keV: effective_area_shape scaled so that
    the reference spectrum (phabs, Anders & Grevesse) gives camera.ecf counts/s per erg/cm2/s
    in 0.2-12 keV, times the standard selection's fraction (as a canned response includes it);
    0 outside 0.2-12 keV, where no event is drawn."""
    from xmmdb.spectral.absorption import sigma

    gamma, nh = REFERENCE_SPECTRUM
    e = np.geomspace(0.2, 12.0, 20001)
    spectrum = e ** -gamma * np.exp(-nh / 1e22 * sigma("phabs_angr", e))
    scale = camera.ecf * selected_fraction(camera) * np.trapezoid(e * spectrum, e) * 1.602176634e-9 \
        / np.trapezoid(effective_area_shape(e) * spectrum, e)
    mid = 0.5 * (np.asarray(lo) + np.asarray(hi))
    return np.where((mid >= 0.2) & (mid <= 12.0), scale * effective_area_shape(mid), 0.0)


def write_onaxis_arfs(out: Path) -> list[str]:
    """responses/<pn|m1|m2>_onaxis_xmmdbsim.arf.gz on the canned RMFs' energy grid."""
    from .spectra import _arf_hdul, _gzip_fits, energy_grid

    lo, hi = energy_grid()
    (Path(out) / "responses").mkdir(parents=True, exist_ok=True)
    for inst, name in ONAXIS_ARF_NAMES.items():
        camera = CAMERAS[inst]
        _gzip_fits(_arf_hdul(camera.tag, lo, hi, onaxis_area(camera, lo, hi).astype(np.float32)),
                   Path(out) / "responses" / f"{name}.gz")
    return list(ONAXIS_ARF_NAMES.values())


def draw_energies(rng, gamma: float, nh22: float, n: int) -> np.ndarray:
    """keV, from E^-gamma exp(-nH sigma(E)) x area (the catalogue's absorption approximation)."""
    spec = _E ** -gamma * np.exp(-nh22 * 0.24 * _E ** -2.5) * effective_area_shape(_E) * np.gradient(_E)
    cdf = np.cumsum(spec)
    return np.interp(rng.random(n) * cdf[-1], cdf, _E)


def vignetting(off_arcmin):
    """The product's vignetting model (xmmdb.photons.psf), with the half arcminute beyond the field
    from which a source still scatters photons into it."""
    return psf.vignetting(off_arcmin, margin_arcmin=0.5)


def offsets_to_radec(ra0, dec0, east_arcsec, north_arcsec):
    """Tangent-plane offsets (arcsec) about (ra0, dec0) to RA/Dec (deg)."""
    return deproject(ra0, dec0, np.radians(np.asarray(east_arcsec) / 3600.0), np.radians(np.asarray(north_arcsec) / 3600.0))


def ccd_of(camera: Camera, east_arcmin, north_arcmin):
    """CCD number from the position in the field (pn: 2 x 6 CCDs; MOS: a central CCD and 6 around)."""
    if camera.n_ccd == 12:
        col = np.clip(np.floor((east_arcmin + FOV_ARCMIN) / 5.0), 0, 5).astype(np.int64)
        return (1 + col + 6 * (north_arcmin < 0)).astype(np.int64)
    ring = np.hypot(east_arcmin, north_arcmin) > 5.5
    sector = np.floor(np.mod(np.degrees(np.arctan2(north_arcmin, east_arcmin)), 360.0) / 60.0).astype(np.int64)
    return np.where(ring, 2 + sector, 1)


def good_time_intervals(rng, tstart: float, duration: float, n_gaps: int = 2) -> np.ndarray:
    """[[start, stop], …] covering the exposure with a few gaps (flares cut out)."""
    edges = [tstart]
    for c in np.sort(rng.uniform(tstart + 0.15 * duration, tstart + 0.85 * duration, n_gaps)):
        w = rng.uniform(100.0, 0.06 * duration)
        if c - w / 2 > edges[-1]:
            edges += [c - w / 2, c + w / 2]
    edges.append(tstart + duration)
    return np.array(edges).reshape(-1, 2)


def in_gtis(t, gtis):
    i = np.searchsorted(gtis[:, 0], t, side="right") - 1
    return (i >= 0) & (t < gtis[np.clip(i, 0, None), 1])


def orbit_track(tstart: float, tstop: float, step: float = 60.0, phase: float = 0.3):
    """An XMM-like orbit (7,000 x 114,000 km, 47.9 h, inclined 40 deg): TIME and GEI
    position (km) and velocity (km/s), sampled every `step` s around the exposure."""
    mu, rp, ra_ = 398600.4418, 7000.0, 114000.0
    a, e = (rp + ra_) / 2, (ra_ - rp) / (ra_ + rp)
    n = np.sqrt(mu / a ** 3)
    t = np.arange(tstart - 600.0, tstop + 600.0 + step, step)
    m = n * (t - tstart) + 2 * np.pi * phase
    ecc = m.copy()
    for _ in range(30):
        ecc = ecc - (ecc - e * np.sin(ecc) - m) / (1 - e * np.cos(ecc))
    x, y = a * (np.cos(ecc) - e), a * np.sqrt(1 - e * e) * np.sin(ecc)
    inc, node, peri = np.radians(40.0), np.radians(60.0), np.radians(-90.0)
    rot = _rotation(node, inc, peri)
    pos = (rot @ np.stack([x, y, np.zeros_like(x)])).T
    vel = np.gradient(pos, t, axis=0)
    return t, pos, vel


def _rotation(node, inc, peri):
    def rz(a):
        return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])

    rx = np.array([[1, 0, 0], [0, np.cos(inc), -np.sin(inc)], [0, np.sin(inc), np.cos(inc)]])
    return rz(node) @ rx @ rz(peri)


def roemer_seconds(t_tt, ra, dec, orbit=None):
    """Light-travel time from the spacecraft to the solar-system barycentre along the
    source direction (Earth from astropy's built-in ephemeris, spacecraft from the orbit)."""
    from astropy import units as u
    from astropy.coordinates import get_body_barycentric
    from astropy.time import Time

    grid = np.linspace(t_tt.min() - 1, t_tt.max() + 1, 64) if len(t_tt) else np.zeros(1)
    earth = get_body_barycentric("earth", Time(MJDREF + grid / 86400.0, format="mjd", scale="tt"))
    pos = np.stack([earth.x.to_value(u.km), earth.y.to_value(u.km), earth.z.to_value(u.km)], axis=1)
    if orbit is not None:
        ot, opos = orbit
        pos = pos + np.stack([np.interp(grid, ot, opos[:, k]) for k in range(3)], axis=1)
    n_hat = np.array([np.cos(np.radians(dec)) * np.cos(np.radians(ra)),
                      np.cos(np.radians(dec)) * np.sin(np.radians(ra)), np.sin(np.radians(dec))])
    return np.interp(t_tt, grid, pos @ n_hat / C_KM_S)


def simulate_exposure(rng, camera: Camera, ra_pnt: float, dec_pnt: float, tstart: float, duration: float,
                      sources: dict, gtis=None, modulation=None, bkg_scale: float = 1.0) -> dict:
    """Photons of one exposure as arrays TIME, X, Y, PI, PATTERN, FLAG, CCDNR (sky X/Y on the
    pipeline's tangent plane about the pointing) and GTI: {ccdnr: [[start, stop], ...]}. `sources`: ra, dec, flux, gamma, nh, extent arrays;
    `modulation`: {source index: f(t) -> relative rate in [0, 1]} (thinned photons)."""
    gtis = good_time_intervals(rng, tstart, duration) if gtis is None else gtis
    parts = []
    east, north = offsets(ra_pnt, dec_pnt, sources["ra"], sources["dec"])
    off = np.hypot(east, north) / 60.0
    counts = rng.poisson(sources["flux"] * camera.ecf * duration * vignetting(off))
    for k in np.flatnonzero(counts):
        n = int(counts[k])
        t = tstart + rng.random(n) * duration
        if modulation and k in modulation:
            t = t[rng.random(n) < modulation[k](t)]
            n = len(t)
        u = rng.random(n)      # the PSF's deviates, turned into radii once the energies are known
        th = rng.uniform(0, 2 * np.pi, n)
        ext = sources["extent"][k]
        spread = (rng.normal(0, ext, n), rng.normal(0, ext, n)) if ext > 0 else (0.0, 0.0)
        energy = draw_energies(rng, sources["gamma"][k], sources["nh"][k], n)
        r = draw_radii(u, camera.instrument, energy, off[k])
        de, dn = r * np.cos(th) + spread[0], r * np.sin(th) + spread[1]
        parts.append((t, east[k] + de, north[k] + dn, energy))
    n_bkg = rng.poisson(camera.bkg * bkg_scale * np.pi * FOV_ARCMIN ** 2 * duration)
    r = FOV_ARCMIN * 60 * np.sqrt(rng.random(n_bkg))
    th = rng.uniform(0, 2 * np.pi, n_bkg)
    parts.append((tstart + rng.random(n_bkg) * duration, r * np.cos(th), r * np.sin(th),
                  np.where(rng.random(n_bkg) < 0.6, draw_energies(rng, 0.3, 0.0, n_bkg), rng.uniform(0.2, 12, n_bkg))))
    t, e_arc, n_arc, energy = (np.concatenate(x) for x in zip(*parts)) if parts else ([],) * 4
    # Each CCD starts and ends its good time a little apart from the others (as pipeline
    # STDGTInn do): the on-time of a source is that of its CCD.
    ccd = ccd_of(camera, e_arc / 60.0, n_arc / 60.0)
    ccd_gtis = {}
    for k in range(1, camera.n_ccd + 1):
        g = gtis.copy()
        g[0, 0] += rng.uniform(0.0, 40.0)
        g[-1, 1] -= rng.uniform(0.0, 40.0)
        ccd_gtis[k] = g
    keep = np.zeros(len(t), bool)
    for k, g in ccd_gtis.items():
        on = ccd == k
        keep[on] = in_gtis(t[on], g)
    keep &= np.hypot(e_arc, n_arc) < FOV_ARCMIN * 60
    t, e_arc, n_arc, energy, ccd = t[keep], e_arc[keep], n_arc[keep], energy[keep], ccd[keep]
    frame = np.floor((t - tstart) / camera.frame_s)
    t = tstart + (frame + 0.5) * camera.frame_s
    order = np.argsort(t, kind="stable")
    t, e_arc, n_arc, energy, ccd = t[order], e_arc[order], n_arc[order], energy[order], ccd[order]
    # Sky pixels on the tangent plane about the pointing: X grows to the west (TCDLT < 0).
    x = np.rint(X_REF - e_arc / 0.05).astype(np.int32)
    y = np.rint(X_REF + n_arc / 0.05).astype(np.int32)
    sigma = 0.04 * np.sqrt(energy) + 0.02
    pi = np.clip(np.rint(1000 * (energy + rng.normal(0, 1, len(energy)) * sigma)), 0, 20479).astype(np.int16)
    values, prob = camera.patterns
    return dict(TIME=t, X=x, Y=y, PI=pi, PATTERN=rng.choice(values, len(t), p=prob).astype(np.uint8),
                FLAG=rng.choice(FLAGS[0], len(t), p=FLAGS[1]).astype(np.int32),
                CCDNR=ccd.astype(np.uint8), GTI=ccd_gtis)


def event_file_bytes(camera: Camera, obs_id: str, exp_id: str, target: str, ra_pnt: float, dec_pnt: float,
                     pa_pnt: float, ev: dict, filt: str = "Medium", compress: bool = True) -> bytes:
    """A pipeline event list (EVENTS + STDGTInn per CCD), gzip-compressed and reproducible byte for byte."""
    from astropy.io import fits

    tstart = min(float(g[0, 0]) for g in ev["GTI"].values())
    tstop = max(float(g[-1, 1]) for g in ev["GTI"].values())
    common = [("TELESCOP", "XMM"), ("INSTRUME", camera.instrument), ("OBS_ID", obs_id),
              ("EXP_ID", f"{obs_id}{exp_id[1:]}"), ("EXPIDSTR", exp_id), ("OBJECT", target),
              ("DATAMODE", "IMAGING"), ("SUBMODE", "PrimeFullWindow"), ("FILTER", filt),
              ("TIMESYS", "TT"), ("MJDREF", MJDREF), ("TIMEREF", "LOCAL"), ("TASSIGN", "SATELLITE"),
              ("TIMEUNIT", "s"), ("TSTART", tstart), ("TSTOP", tstop),
              ("RA_PNT", ra_pnt), ("DEC_PNT", dec_pnt), ("PA_PNT", pa_pnt), ("RA_NOM", ra_pnt), ("DEC_NOM", dec_pnt),
              ("CREATOR", "xmmdb simulate")]
    primary = fits.PrimaryHDU()
    for k, v in common:
        primary.header[k] = v
    cols = fits.ColDefs([
        fits.Column("TIME", "D", unit="s", array=ev["TIME"]),
        fits.Column("X", "J", unit="pixel", array=ev["X"]),
        fits.Column("Y", "J", unit="pixel", array=ev["Y"]),
        fits.Column("PI", "I", unit="CHAN", array=ev["PI"]),
        fits.Column("PATTERN", "B", array=ev["PATTERN"]),
        fits.Column("FLAG", "J", array=ev["FLAG"]),
        fits.Column("CCDNR", "B", array=ev["CCDNR"]),
    ])
    events = fits.BinTableHDU.from_columns(cols, name="EVENTS")
    h = events.header
    for n, (ctype, crval, cdelt) in ((2, ("RA---TAN", ra_pnt, -PIX_DEG)), (3, ("DEC--TAN", dec_pnt, PIX_DEG))):
        h[f"TCTYP{n}"], h[f"TCRPX{n}"], h[f"TCRVL{n}"], h[f"TCDLT{n}"], h[f"TCUNI{n}"] = ctype, X_REF, crval, cdelt, "deg"
        h[f"TLMIN{n}"], h[f"TLMAX{n}"] = 1, 51840
    for k, v in common:
        h[k] = v
    hdus = [primary, events]
    for ccd, g in sorted(ev["GTI"].items()):
        gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", unit="s", array=g[:, 0]),
                                             fits.Column("STOP", "D", unit="s", array=g[:, 1])],
                                            name=f"STDGTI{ccd:02d}")
        gti.header["CCDID"] = ccd
        gti.header["ONTIME"] = float(np.sum(g[:, 1] - g[:, 0]))
        gti.header["HDUCLASS"], gti.header["HDUCLAS1"] = "OGIP", "GTI"
        hdus.append(gti)
    if not compress:
        raw = io.BytesIO()
        fits.HDUList(hdus).writeto(raw)
        return raw.getvalue()
    return _gzip(fits.HDUList(hdus))


def orbit_file_bytes(obs_id: str, t, pos, vel) -> bytes:
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"], primary.header["OBS_ID"], primary.header["CREATOR"] = "XMM", obs_id, "xmmdb simulate"
    cols = [fits.Column("TIME", "D", unit="s", array=t)]
    cols += [fits.Column(f"GEI_{a}", "D", unit="km", array=pos[:, k]) for k, a in enumerate("XYZ")]
    cols += [fits.Column(f"GEI_V{a}", "D", unit="km/s", array=vel[:, k]) for k, a in enumerate("XYZ")]
    orbit = fits.BinTableHDU.from_columns(cols, name="ORBIT")
    for k, v in (("OBS_ID", obs_id), ("TIMESYS", "TT"), ("MJDREF", MJDREF), ("TIMEREF", "LOCAL")):
        orbit.header[k] = v
    return _gzip(fits.HDUList([primary, orbit]))


def _gzip(hdul) -> bytes:
    raw = io.BytesIO()
    hdul.writeto(raw)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _truth_sources(truth) -> dict:
    return dict(srcid=np.asarray(truth["SRCID"]), primary=np.asarray(truth["PRIMARY"], bool), ra=np.asarray(truth["RA"], float), dec=np.asarray(truth["DEC"], float),
                flux=np.asarray(truth["FLUX"], float), gamma=np.asarray(truth["GAMMA"], float),
                nh=np.asarray(truth["NH"], float) / 1e22, extent=np.asarray(truth["EXTENT"], float),
                variable=np.asarray(truth["VARIABLE"], bool), is_ulx=np.asarray(truth["IS_ULX"], bool))


def write_events(out: Path, seed: int, obslist, truth, epochs) -> dict:
    """Writes out/events/*.FTZ, out/expmaps/*.FTZ and out/truth/events.json; returns the planted
    truth. Every true source shines with its flux and spectrum of the epoch (truth/epochs.fits)."""
    from . import expmaps

    rng = np.random.default_rng([seed, 0xE7E175])   # our own stream: the catalogue files stay identical
    out = Path(out)
    (out / "events").mkdir(parents=True, exist_ok=True)
    src = _truth_sources(truth)
    obs = {str(o["OBS_ID"]): o for o in obslist}
    # The pulsar: an M31 source near the centre, seen by both M31 pointings, not the ULX.
    sep = np.hypot((src["ra"] - M31[0]) * np.cos(np.radians(M31[1])), src["dec"] - M31[1]) * 60
    catalogued = (src["srcid"] > 0) & src["primary"]
    cand = np.flatnonzero((sep > 1.0) & (sep < 4.0) & ~src["is_ulx"] & ~src["variable"] & catalogued)
    pulsar = int(cand[np.argmin(np.abs(np.log(src["flux"][cand] / PULSAR["flux"])))])
    src["flux"][pulsar] = PULSAR["flux"]
    src["gamma"][pulsar], src["nh"][pulsar] = 1.2, 0.3
    # Variable sources: the three catalogue-variable sources brightest in the simulated observations.
    fields = {o for o, _, _ in SAMPLE_EXPOSURES}
    in_fields = np.zeros(len(src["ra"]), bool)
    for o in fields:
        east, north = offsets(float(obs[o]["RA_PNT"]), float(obs[o]["DEC_PNT"]), src["ra"], src["dec"])
        in_fields |= np.hypot(east, north) < 13 * 60
    var_cand = np.flatnonzero(in_fields & src["variable"] & ~src["is_ulx"] & catalogued)
    seen = np.isin(np.asarray(epochs["OBS_ID"]), list(fields))   # brightest where the sample observes them
    brightest = np.zeros(len(src["ra"]))
    np.maximum.at(brightest, np.asarray(epochs["TRUE_ID"])[seen] - 1, np.asarray(epochs["FLUX"], float)[seen])
    variables = var_cand[np.argsort(-brightest[var_cand])][:3]
    written, orbit_of, var_params = [], {}, {}
    for k, v in enumerate(variables.tolist()):
        var_params[v] = dict(kind="flare" if k % 2 == 0 else "sine", t_frac=float(rng.uniform(0.2, 0.6)),
                             tau_s=float(rng.uniform(300, 900)), period_s=float(rng.uniform(800, 2000)))
    for obs_id, inst, exp_id in SAMPLE_EXPOSURES:
        o = obs[obs_id]
        camera = CAMERAS[inst]
        ra_pnt, dec_pnt, pa = float(o["RA_PNT"]), float(o["DEC_PNT"]), float(o["PA_PNT"])
        tstart = round((float(o["MJD_START"]) - MJDREF) * 86400.0, 3)
        if obs_id not in orbit_of:
            orbit_of[obs_id] = orbit_track(tstart, tstart + SAMPLE_SECONDS)
            name = f"P{obs_id}OBX000ORBTSR0000.FTZ"
            (out / "events" / name).write_bytes(orbit_file_bytes(obs_id, *orbit_of[obs_id]))
            written.append(name)
        ot, opos, _ = orbit_of[obs_id]
        modulation = {pulsar: _pulse(ot, opos, src["ra"][pulsar], src["dec"][pulsar])}
        for v, p in var_params.items():
            modulation[v] = _variability(p, tstart, SAMPLE_SECONDS)
        seen = np.asarray(epochs["OBS_ID"]) == obs_id
        index = np.asarray(epochs["TRUE_ID"])[seen] - 1
        flux, gamma = src["flux"].copy(), src["gamma"].copy()
        flux[index] = np.asarray(epochs["FLUX"], float)[seen]
        gamma[index] = np.asarray(epochs["GAMMA"], float)[seen]
        flux[pulsar], gamma[pulsar] = src["flux"][pulsar], src["gamma"][pulsar]
        ev = simulate_exposure(rng, camera, ra_pnt, dec_pnt, tstart, SAMPLE_SECONDS, dict(src, flux=flux, gamma=gamma),
                               modulation=modulation)
        name = f"P{obs_id}{camera.tag}{exp_id}{camera.product}0000.FTZ"
        target = str(o["TARGET"])
        (out / "events" / name).write_bytes(event_file_bytes(camera, obs_id, exp_id, target, ra_pnt, dec_pnt, pa, ev))
        written.append(name)
        expmaps.write_expmaps(out, camera, obs_id, exp_id, target, ra_pnt, dec_pnt, ev["GTI"])
    write_onaxis_arfs(out)
    planted = dict(
        note="Planted in the simulated event lists (loader/simulate/events.py). Times TT s since MJDREF 50814.",
        pulsar=dict(srcid=int(src["srcid"][pulsar]), ra=float(src["ra"][pulsar]), dec=float(src["dec"][pulsar]),
                    period_s=PULSAR["period_s"], frequency_hz=1 / PULSAR["period_s"],
                    pulsed_fraction=PULSAR["pulsed_fraction"], flux=PULSAR["flux"],
                    phase_reference="phase 0 at barycentric (Roemer-corrected) TT 0 s",
                    observations=sorted({o for o, i, _ in SAMPLE_EXPOSURES if i == "EPN"})),
        variables=[dict(srcid=int(src["srcid"][v]), **p) for v, p in var_params.items()],
        exposure_seconds=SAMPLE_SECONDS, files=written)
    (out / "truth" / "events.json").write_text(json.dumps(planted, indent=1) + "\n")
    return planted


def _pulse(orbit_t, orbit_pos, ra, dec):
    period, frac = PULSAR["period_s"], PULSAR["pulsed_fraction"]

    def rate(t):
        tb = t + roemer_seconds(t, ra, dec, (orbit_t, orbit_pos))
        return (1 + frac * np.cos(2 * np.pi * tb / period)) / (1 + frac)
    return rate


def _variability(p, tstart, duration):
    t_flare = tstart + p["t_frac"] * duration

    def rate(t):
        if p["kind"] == "flare":
            return (1 + 4 * np.where(t > t_flare, np.exp(-(t - t_flare) / p["tau_s"]), 0)) / 5
        return (1 + 0.9 * np.sin(2 * np.pi * (t - tstart) / p["period_s"])) / 1.9
    return rate


def write_bench_events(folder: Path, n_photons: int, seed: int = 11, per_exposure: int = 200_000) -> list[Path]:
    """The photon benchmark's sky: about n_photons in uncompressed pipeline-format event
    lists in `folder`, over many observations at random positions (a third of the fields
    observed two or three times, slightly offset), each seen by pn, MOS1 and MOS2; sources
    from a Euclidean log N - log S plus a bright target per field, and background."""
    rng = np.random.default_rng([seed, 0xBE7C4])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, total, k = [], 0, 0
    while total < n_photons:
        ra0, dec0 = 360 * rng.random(), np.degrees(np.arcsin(2 * rng.random() - 1))
        n_src = rng.poisson(120)
        r = (FOV_ARCMIN + 2) * 60 * np.sqrt(rng.random(n_src + 1))
        th = rng.uniform(0, 2 * np.pi, n_src + 1)
        r[0] = 0.0
        ra, dec = offsets_to_radec(ra0, dec0, r * np.cos(th), r * np.sin(th))
        flux = 2e-15 * rng.random(n_src + 1) ** (-1 / 1.5)
        flux[0] = 10 ** rng.uniform(-12.5, -11.3)
        src = dict(ra=ra, dec=dec, flux=flux, gamma=np.clip(rng.normal(1.9, 0.3, n_src + 1), 1, 3),
                   nh=10 ** rng.normal(-1.3, 0.5, n_src + 1), extent=np.zeros(n_src + 1))
        for epoch in range(1 + (rng.random() < 0.33) * rng.integers(1, 3)):
            k += 1
            obs_id = f"08{k:06d}01"
            pra, pdec = offsets_to_radec(ra0, dec0, *rng.normal(0, 60.0, 2))
            tstart = rng.uniform(1e8, 8e8)
            for inst, exp_id in (("EPN", "S003"), ("EMOS1", "S001"), ("EMOS2", "S002")):
                camera = CAMERAS[inst]
                duration = 50e3 * per_exposure / 200_000
                ev = simulate_exposure(rng, camera, pra, pdec, tstart, duration, src, bkg_scale=3.0)
                path = folder / f"P{obs_id}{camera.tag}{exp_id}{camera.product}0000.fits"
                path.write_bytes(event_file_bytes(camera, obs_id, exp_id, "BENCH FIELD", pra, pdec, 0.0, ev,
                                                  compress=False))
                written.append(path)
                total += len(ev["TIME"])
    return written
