"""A 4XMM-format catalogue of a simulated sky around real X-ray fields.

Sources follow a Euclidean log N - log S (N(>S) ~ S^-1.5 above 2e-15 erg/cm2/s
in 0.2-12 keV); galaxies add a population concentrated towards their centre
and a few ultraluminous sources. Spectra are absorbed power laws (photon index
and column density in the truth tables, which the spectra and event simulators
use). Each observation sees a source as the pipeline would:

- through each camera: counts in the five catalogue bands from the source's
  spectrum and the camera's band conversion factors (pn, MOS1 and MOS2 have
  their own effective areas and on-times), Poisson noise per camera and band;
  fluxes, rates and hardness ratios are measured from those counts;
- a tenth of the sources vary: their flux changes between epochs by a factor
  10^N(0, 0.4), and their spectrum with it (softer when brighter:
  Gamma + 0.5 log10 of the factor, plus N(0, 0.15));
- sources closer than MIN_SEPARATION_ARCSEC to a brighter one are not
  separated (the PSF's 6" FWHM): their counts add to the brighter one's
  detection, at the counts-weighted centroid, flagged CONFUSED when they
  give a tenth of its counts or more; catalogue sources are at least
  MIN_SEPARATION_ARCSEC apart;
- a detection is kept when its EPIC counts give a detection likelihood above 6,
  so faint sources are found only in deep or repeated pointings.

The truth is written beside the catalogue: truth/sources.fits (every true
source, the catalogue SRCID it is seen as, or 0) and truth/epochs.fits (every
source in every observation that covered it: flux and photon index of that
epoch, expected and drawn counts per camera, the DETID it contributes to).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from xmmdb.instruments import FOV_ARCMIN

from .events import vignetting

CAMERAS = ("PN", "M1", "M2")
# Band conversion factors (counts/s per erg/cm2/s) of each camera, from the cameras' total
# 0.2-12 keV factors of the event simulator (events.CAMERAS) split over the five bands by
# the relative area of each camera in each band (MOS: less soft response than pn).
BAND_AREA = {"PN": np.array([0.8, 2.0, 2.4, 1.0, 0.25]), "M1": np.array([0.35, 1.6, 2.4, 1.1, 0.3]),
             "M2": np.array([0.35, 1.6, 2.4, 1.1, 0.3])}
BKG_RATE = {"PN": 2.0e-4, "M1": 0.7e-4, "M2": 0.7e-4}   # background counts/s within a PSF-sized region
MIN_SEPARATION_ARCSEC = 10.0   # closer sources are one detection (the EPIC PSF's 6" FWHM)
REFERENCE_SPECTRUM = (1.7, 0.03)   # Gamma, nH (1e22): the catalogue's flux conversion assumes it
S_MIN = 2.0e-15
MJD_LAUNCH, MJD_NOW = 51650.0, 60600.0
BANDS = [(0.2, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.5), (4.5, 12.0)]
FILTERS = np.array(["Thin1", "Medium", "Thick"])
KPC_PER_MPC = 1000.0
MPC_CM = 3.0857e24


@dataclass(frozen=True)
class Field:
    name: str
    ra: float
    dec: float
    obs_ids: tuple[str, ...]       # real obsids where xmmdb ships real data for the field
    n_background: int              # background AGN expected in one field of view (above S_MIN)
    galaxy_sources: int = 0        # sources belonging to the galaxy
    scale_arcmin: float = 0.0      # exponential scale of the galaxy population
    distance_mpc: float = 0.0
    ulx: tuple[tuple[float, float, float], ...] = ()   # (ra, dec, flux) of planted bright sources
    extended: tuple[tuple[float, float, float, float], ...] = ()  # (ra, dec, flux, extent arcsec)


# Positions of the galaxies and planted sources are the real ones (rounded).
FIELDS = (
    Field("M31", 10.6847, 41.2690,
          ("0112570101", "0112570201", "0112570301", "0112570401", "0109270101", "0505720201", "0650560201"),
          60, 700, 9.0, 0.78, ulx=((10.7083, 41.3011, 8e-12),)),
    Field("M82", 148.9685, 69.6797, ("0112290201", "0206080101", "0657800101"),
          55, 40, 1.2, 3.6, ulx=((148.9576, 69.6794, 2.5e-11), (148.9700, 69.6790, 6e-12))),
    Field("NGC 5408", 210.8375, -41.3775, ("0112290601", "0302900101", "0653380201"),
          55, 12, 0.8, 4.8, ulx=((210.8317, -41.3831, 1.2e-11),)),
    Field("NGC 7793", 359.4576, -32.5911, ("0693760101", "0693760401"),
          55, 25, 2.5, 3.9, ulx=((359.4496, -32.5825, 1.5e-12), (359.4621, -32.6241, 4e-12))),
    Field("Abell 907", 149.5917, -11.0636, ("0201901401", "0201903501", "0404910601"),
          60, extended=((149.5917, -11.0636, 1.5e-11, 80.0),)),
    Field("M51", 202.4696, 47.1952, ("0112840201", "0303420101"), 55, 30, 2.5, 8.6,
          ulx=((202.4892, 47.2217, 3e-13),)),
    Field("NGC 253", 11.8880, -25.2883, ("0152020101", "0304850901"), 55, 45, 4.0, 3.5,
          ulx=((11.8925, -25.2917, 3e-12),)),
    Field("Holmberg II", 124.7708, 70.7144, ("0112520601", "0724810101"), 55, 6, 1.5, 3.4,
          ulx=((124.8795, 70.7041, 1e-11),)),
    Field("Lockman Hole", 161.2500, 58.0000, ("0123700101", "0147511601", "0147511701", "0147511801"), 65),
    Field("NGC 4472", 187.4450, 8.0003, ("0200130101",), 55, 35, 2.0, 16.0,
          extended=((187.4450, 8.0003, 4e-12, 120.0),)),
)


def radec_offset(ra, dec, dx_arcmin, dy_arcmin):
    """Small offsets (east, north) in arcmin from (ra, dec), degrees."""
    return (np.mod(ra + dx_arcmin / 60.0 / np.cos(np.radians(dec)), 360.0),
            np.clip(dec + dy_arcmin / 60.0, -90, 90))


def separation_arcmin(ra1, dec1, ra2, dec2):
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
    return np.degrees(np.arccos(np.clip(c, -1, 1))) * 60.0


def iau_name(ra, dec) -> str:
    """4XMM Jhhmmss.s+ddmmss, truncated as the IAU convention asks."""
    h = ra / 15.0
    hh, mm = int(h), int((h * 60) % 60)
    ss = int(((h * 3600) % 60) * 10) / 10.0
    sign = "+" if dec >= 0 else "-"
    a = abs(dec)
    dd, dm, ds = int(a), int((a * 60) % 60), int((a * 3600) % 60)
    return f"4XMM J{hh:02d}{mm:02d}{ss:04.1f}{sign}{dd:02d}{dm:02d}{ds:02d}"


def band_fractions(gamma, nh):
    """Fraction of the 0.2-12 keV energy flux in each band for an absorbed power law
    (absorption approximated as exp(-nH sigma(E)) with sigma ~ 2.4e-22 E^-2.5 cm2)."""
    e = np.geomspace(0.2, 12.0, 400)
    de = np.gradient(e)
    out = np.empty((len(gamma), len(BANDS)))
    for start in range(0, len(gamma), 20000):  # chunks: (n, 400) arrays of a million rows would not fit
        g, n = gamma[start:start + 20000, None], nh[start:start + 20000, None]
        spec = e[None, :] ** (1 - g) * np.exp(-n * 0.24 * e[None, :] ** -2.5) * de
        total = spec.sum(axis=1)
        out[start:start + 20000] = np.stack([spec[:, (e >= lo) & (e < hi)].sum(axis=1) / total
                                             for lo, hi in BANDS], axis=1)
    return out


def flux_draw(rng, n, s_min=S_MIN):
    """Fluxes from N(>S) ~ S^-1.5 above s_min."""
    return s_min * rng.random(n) ** (-1 / 1.5)


def _sources_of(field: Field, rng, spread):
    """(ra, dec, flux, extent, is_ulx, comment) arrays of one field's sources."""
    n_obs = len(field.obs_ids)
    n_bg = rng.poisson(field.n_background * (1 + 0.6 * (spread > 2.0) * (n_obs - 1)))
    r = (FOV_ARCMIN + spread) * np.sqrt(rng.random(n_bg))
    th = rng.uniform(0, 2 * np.pi, n_bg)
    ra, dec = radec_offset(field.ra, field.dec, r * np.cos(th), r * np.sin(th))
    parts = [(ra, dec, flux_draw(rng, n_bg), np.zeros(n_bg), np.zeros(n_bg, bool), np.full(n_bg, ""))]
    if field.galaxy_sources:
        ng = field.galaxy_sources
        r = rng.exponential(field.scale_arcmin / 2.5, ng)
        th = rng.uniform(0, 2 * np.pi, ng)
        ra, dec = radec_offset(field.ra, field.dec, r * np.cos(th), 0.6 * r * np.sin(th))
        flux = flux_draw(rng, ng, 5e-15 * (0.78 / field.distance_mpc) ** 2)
        lum = 4 * np.pi * (field.distance_mpc * MPC_CM) ** 2 * flux
        parts.append((ra, dec, flux, np.zeros(ng), lum > 1e39, np.full(ng, f"{field.name} galaxy source")))
    for planted, comment in ((field.ulx, f"ULX in {field.name}"), (field.extended, f"extended emission, {field.name}")):
        if planted:
            a = np.array(planted)
            k = len(a)
            extent = a[:, 3] if a.shape[1] > 3 else np.zeros(k)
            parts.append((a[:, 0], a[:, 1], a[:, 2], extent, extent == 0, np.full(k, comment)))
    return [np.concatenate(x) for x in zip(*parts)]


def simulate_sky(rng: np.random.Generator, fields=FIELDS, extra_fields: int = 0):
    """Observations and true sources as dicts of arrays (one entry per row)."""
    all_fields = list(fields)
    if extra_fields:  # random pointings over the sky: the benchmark catalogue
        ras = 360 * rng.random(extra_fields)
        decs = np.degrees(np.arcsin(2 * rng.random(extra_fields) - 1))
        n_obs = 1 + (rng.random(extra_fields) < 0.2) + (rng.random(extra_fields) < 0.05)
        all_fields += [Field(f"FIELD {k + 1}", float(ras[k]), float(decs[k]),
                             tuple(f"09{k:06d}{j + 1:02d}" for j in range(n_obs[k])), 55)
                       for k in range(extra_fields)]
    obs, src = {}, {}
    for f_index, field in enumerate(all_fields):
        n = len(field.obs_ids)
        spread = 0.45 * field.scale_arcmin if field.scale_arcmin > 5 else 2.0
        angle = np.arange(n) * 2 * np.pi / max(n - 1, 1)
        radius = np.where(np.arange(n) == 0, 0.0, spread)
        pra, pdec = radec_offset(field.ra, field.dec, radius * np.cos(angle), radius * np.sin(angle))
        start = np.sort(rng.uniform(MJD_LAUNCH, MJD_NOW, n))
        columns = dict(obs_id=np.array(field.obs_ids), target=np.full(n, field.name), ra_pnt=pra, dec_pnt=pdec,
                       pa_pnt=rng.uniform(0, 360, n), mjd_start=start, duration=rng.uniform(15e3, 120e3, n),
                       filter=rng.choice(FILTERS, n), field=np.full(n, f_index))
        for k, v in columns.items():
            obs.setdefault(k, []).append(np.atleast_1d(v))
        ra, dec, flux, extent, is_ulx, comment = _sources_of(field, rng, spread)
        columns = dict(ra=ra, dec=dec, flux=flux, extent=extent, is_ulx=is_ulx, comment=comment,
                       field=np.full(len(ra), f_index), distance_mpc=np.full(len(ra), field.distance_mpc))
        for k, v in columns.items():
            src.setdefault(k, []).append(v)
    obs = {k: np.concatenate(v) for k, v in obs.items()}
    src = {k: np.concatenate(v) for k, v in src.items()}
    obs["mjd_stop"] = obs["mjd_start"] + obs["duration"] / 86400.0
    n_obs = len(obs["obs_id"])   # each camera's on-time: the pn starts later and loses more to flares
    obs["ontime"] = {"PN": obs["duration"] * rng.uniform(0.85, 0.94, n_obs),
                     "M1": obs["duration"] * rng.uniform(0.95, 1.0, n_obs),
                     "M2": obs["duration"] * rng.uniform(0.95, 1.0, n_obs)}
    obs["revolut"] = ((obs["mjd_start"] - 51560.0) / 1.995).astype(np.int64)
    n = len(src["ra"])
    src["gamma"] = np.clip(rng.normal(1.9, 0.35, n), 0.8, 3.5)
    src["nh"] = 10 ** rng.normal(-1.3, 0.6, n)                  # 1e22 cm^-2
    src["variable"] = rng.random(n) < 0.1
    return obs, src


def band_ecf() -> dict:
    """Counts/s per erg/cm2/s in each band (5,) of each camera, for the reference spectrum."""
    from .events import CAMERAS as EVENT_CAMERAS

    ref = band_fractions(np.array([REFERENCE_SPECTRUM[0]]), np.array([REFERENCE_SPECTRUM[1]]))[0]
    total = {"PN": EVENT_CAMERAS["EPN"].ecf, "M1": EVENT_CAMERAS["EMOS1"].ecf, "M2": EVENT_CAMERAS["EMOS2"].ecf}
    return {c: total[c] * BAND_AREA[c] / np.sum(ref * BAND_AREA[c]) for c in CAMERAS}


def confusion_parents(src, min_sep_arcsec=MIN_SEPARATION_ARCSEC) -> np.ndarray:
    """Index of the source each source is detected as: itself, or the brighter source
    within min_sep_arcsec that absorbed it (brightest first, greedily)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    n = len(src["ra"])
    parent = np.arange(n)
    if n < 2:
        return parent
    c = SkyCoord(src["ra"] * u.deg, src["dec"] * u.deg)
    i, j, _, _ = search_around_sky(c, c, min_sep_arcsec * u.arcsec)
    rank = np.empty(n, np.int64)
    rank[np.argsort(-src["flux"], kind="stable")] = np.arange(n)
    close = rank[j] > rank[i]                  # j is fainter than i
    i, j = i[close], j[close]
    order = np.lexsort((rank[j], rank[i]))     # brightest absorber first, its nearest-in-flux first
    for a, b in zip(i[order].tolist(), j[order].tolist()):
        if parent[a] == a and parent[b] == b:  # a source already absorbed absorbs nothing more
            parent[b] = a
    return parent


def observe(rng, obs, src):
    """Detections: every (source, observation of its field) pair, seen through each camera,
    confused sources added to their brighter neighbour; kept when the EPIC counts give a
    detection likelihood above 6. Returns (detections, epochs): per detection the measured
    quantities; per (source, observation) pair the truth of that epoch."""
    order = np.argsort(obs["field"], kind="stable")
    first = np.searchsorted(obs["field"][order], src["field"])
    count = np.searchsorted(obs["field"][order], src["field"], side="right") - first
    s = np.repeat(np.arange(len(src["ra"])), count)
    o = order[np.concatenate([np.arange(f, f + c) for f, c in zip(first, count)]) if len(s) else np.array([], int)]
    off = separation_arcmin(src["ra"][s], src["dec"][s], obs["ra_pnt"][o], obs["dec_pnt"][o])
    keep = off < FOV_ARCMIN - 0.3
    s, o, off = s[keep], o[keep], off[keep]
    vign = vignetting(off)
    # The epoch's flux and spectrum: variable sources change both.
    variable = src["variable"][s]
    factor = np.where(variable, 10 ** rng.normal(0, 0.4, len(s)), 1.0)
    flux = src["flux"][s] * factor
    gamma = src["gamma"][s] + np.where(variable, 0.5 * np.log10(factor) + rng.normal(0, 0.15, len(s)), 0.0)
    gamma = np.clip(gamma, 0.8, 3.5)
    fractions = src["fractions"][s].copy()
    if variable.any():
        fractions[variable] = band_fractions(gamma[variable], src["nh"][s][variable])
    # Expected counts per camera and band, then per detection (a source and the sources it absorbs).
    ecf = band_ecf()
    expected = {c: flux[:, None] * fractions * ecf[c][None, :] * (obs["ontime"][c][o] * vign)[:, None]
                for c in CAMERAS}
    parent = src["parent"][s]
    group, g_of_pair = np.unique(np.stack([parent, o], axis=1), axis=0, return_inverse=True)
    g_of_pair = g_of_pair.ravel()
    g_src, g_obs = group[:, 0], group[:, 1]
    n_g = len(group)
    mu = {c: np.zeros((n_g, 5)) for c in CAMERAS}
    for c in CAMERAS:
        np.add.at(mu[c], g_of_pair, expected[c])
    counts = {c: rng.poisson(mu[c]) for c in CAMERAS}               # (group, band)
    epic = sum(counts[c] for c in CAMERAS)
    total = epic.sum(axis=1)
    weight = sum(expected[c].sum(axis=1) for c in CAMERAS)            # centroid of what each member gives
    w_sum = np.bincount(g_of_pair, weight, n_g)
    own = np.bincount(g_of_pair, weight * (s == parent), n_g)   # what the brightest member gives
    g_off = separation_arcmin(src["ra"][g_src], src["dec"][g_src], obs["ra_pnt"][g_obs], obs["dec_pnt"][g_obs])
    g_vign = vignetting(g_off)
    extent = src["extent"][g_src]
    bkg = {c: BKG_RATE[c] * obs["ontime"][c][g_obs] * (1 + (extent / 10.0) ** 2) for c in CAMERAS}
    bkg_epic = sum(bkg.values())
    det_ml = 0.5 * total ** 2 / np.maximum(total + bkg_epic, 1e-9)
    found = det_ml >= 6.0
    # Which detection each epoch's source contributes to (index into the kept detections, -1: none).
    det_index = np.full(n_g, -1)
    det_index[found] = np.arange(found.sum())
    epochs = dict(src=s, obs=o, flux=flux, gamma=gamma, det=det_index[g_of_pair],
                  **{f"expected_{c}": expected[c].sum(axis=1) for c in CAMERAS})
    # Measured quantities of the detections.
    g = np.flatnonzero(found)
    ra0, dec0 = src["ra"][g_src[g]], src["dec"][g_src[g]]
    dra = (src["ra"][s] - src["ra"][parent] + 180.0) % 360.0 - 180.0
    ddec = src["dec"][s] - src["dec"][parent]
    c_ra = ra0 + (np.bincount(g_of_pair, weight * dra, n_g) / np.maximum(w_sum, 1e-30))[g]
    c_dec = dec0 + (np.bincount(g_of_pair, weight * ddec, n_g) / np.maximum(w_sum, 1e-30))[g]
    total, bkg_epic, det_ml, extent, vign = total[g], bkg_epic[g], det_ml[g], extent[g], g_vign[g]
    poserr = np.hypot(0.4, 18.0 * np.sqrt(bkg_epic + total) / np.maximum(total, 1)) + extent / 20.0
    ra, dec = radec_offset(c_ra, c_dec, *rng.normal(0, poserr / np.sqrt(2) / 60.0, (2, len(g))))
    ontime = {c: obs["ontime"][c][g_obs[g]] for c in CAMERAS}
    scale = {c: ecf[c][None, :] * (ontime[c] * vign)[:, None] for c in CAMERAS}   # counts per unit flux
    band_flux = {c: counts[c][g] / scale[c] for c in CAMERAS}
    band_err = {c: np.sqrt(counts[c][g] + bkg[c][g][:, None] / 5) / scale[c] for c in CAMERAS}
    epic_scale = sum(scale.values())
    ep_band_flux = epic[g] / epic_scale
    ep_band_err = np.sqrt(epic[g] + bkg_epic[:, None] / 5) / epic_scale
    duration = obs["duration"][g_obs[g]]
    intra_var = src["variable"][g_src[g]] & (total > 300) & (rng.random(len(g)) < 0.3)
    det = dict(src=g_src[g], obs=g_obs[g], ra=ra, dec=dec, poserr=poserr, offax=g_off[g], counts=total,
               bkg=bkg_epic, det_ml=det_ml, extent=extent, confused=own[g] < 0.9 * w_sum[g],
               band_counts=epic[g], band_flux=ep_band_flux, band_err=ep_band_err,
               flux=ep_band_flux.sum(axis=1), flux_err=np.sqrt((ep_band_err ** 2).sum(axis=1)),
               rate=total / duration,
               chi2prob=np.where(intra_var, 10 ** -rng.uniform(6, 12, len(g)), rng.uniform(0.01, 1, len(g))),
               var_flag=intra_var)
    for c in CAMERAS:
        det[f"{c}_flux"] = band_flux[c].sum(axis=1)
        det[f"{c}_flux_err"] = np.sqrt((band_err[c] ** 2).sum(axis=1))
        det[f"{c}_counts"] = counts[c][g].sum(axis=1)
        det[f"{c}_ontime"] = ontime[c]
    return det, epochs


def _group_mean(index, values, weights, n):
    return np.bincount(index, values * weights, n) / np.bincount(index, weights, n)


def catalogue_tables(rng, obs, src, det, epoch):
    """The 4XMM catalogue (one row per detection, with SC_* columns), the
    observation list and the truth table, as astropy Tables with units."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    # Source ids for detected sources, in order of first detection; detections per observation by counts.
    detected, first = np.unique(det["src"], return_index=True)
    order_src = detected[np.argsort(first)]
    srcid_of = np.full(len(src["ra"]), -1)
    srcid_of[order_src] = np.arange(1, len(order_src) + 1)
    order = np.lexsort((-det["counts"], det["obs"]))
    det = {k: v[order] for k, v in det.items()}
    s_idx = srcid_of[det["src"]] - 1
    n_src, n_det = len(order_src), len(det["src"])
    obs_of = det["obs"]
    src_num = np.arange(n_det) - np.searchsorted(obs_of, obs_of)  # rank within its observation
    band_flux, band_err = det["band_flux"], det["band_err"]
    # Hardness ratios from the EPIC counts of adjacent bands; none where both are empty.
    soft, hard = det["band_counts"][:, :-1].astype(float), det["band_counts"][:, 1:].astype(float)
    both = soft + hard
    with np.errstate(invalid="ignore", divide="ignore"):
        hr = np.where(both > 0, (hard - soft) / both, np.nan)
        hr_err = np.where(both > 0, 2 * np.sqrt(hard ** 2 * np.maximum(soft, 1) + soft ** 2 * np.maximum(hard, 1))
                          / both ** 2, np.nan)
    galactic = SkyCoord(det["ra"] * u.deg, det["dec"] * u.deg).galactic

    # Source-level (SC_*) columns: inverse-variance means over the detections.
    w_pos = 1.0 / det["poserr"] ** 2
    ref_ra = np.zeros(n_src)
    ref_ra[s_idx] = det["ra"]
    dra = (det["ra"] - ref_ra[s_idx] + 180.0) % 360.0 - 180.0
    sc_ra = (ref_ra + _group_mean(s_idx, dra, w_pos, n_src)) % 360.0
    sc_dec = _group_mean(s_idx, det["dec"], w_pos, n_src)
    n_detections = np.bincount(s_idx, minlength=n_src)
    fmin, fmax = np.full(n_src, np.inf), np.zeros(n_src)
    np.minimum.at(fmin, s_idx, det["flux"])
    np.maximum.at(fmax, s_idx, det["flux"])
    emin, emax = np.zeros(n_src), np.zeros(n_src)
    emin[s_idx[np.lexsort((-det["flux"], s_idx))]] = det["flux_err"][np.lexsort((-det["flux"], s_idx))]
    emax[s_idx[np.lexsort((det["flux"], s_idx))]] = det["flux_err"][np.lexsort((det["flux"], s_idx))]
    chi2min = np.ones(n_src)
    np.minimum.at(chi2min, s_idx, det["chi2prob"])
    significance = (fmax - fmin) / np.hypot(emin, emax)
    sc_var = (chi2min < 1e-5) | ((n_detections > 1) & (significance > 5))
    mjd_first, mjd_last = np.full(n_src, np.inf), np.zeros(n_src)
    np.minimum.at(mjd_first, s_idx, obs["mjd_start"][obs_of])
    np.maximum.at(mjd_last, s_idx, obs["mjd_stop"][obs_of])
    true = order_src
    sc_ra_det, sc_dec_det = sc_ra[s_idx], sc_dec[s_idx]
    iaunames = np.array([iau_name(r, d) for r, d in zip(sc_ra, sc_dec)])

    cat = Table()
    cat["DETID"] = np.arange(1, n_det + 1, dtype=np.int64)
    cat["SRCID"] = (s_idx + 1).astype(np.int64)
    cat["IAUNAME"] = iaunames[s_idx]
    cat["OBS_ID"] = obs["obs_id"][obs_of]
    cat["SRC_NUM"] = (src_num + 1).astype(np.int32)
    cat["REVOLUT"] = obs["revolut"][obs_of].astype(np.int32)
    cat["MJD_START"], cat["MJD_STOP"] = obs["mjd_start"][obs_of], obs["mjd_stop"][obs_of]
    cat["OBS_CLASS"] = np.zeros(n_det, np.int16)
    for inst in ("PN", "M1", "M2"):
        cat[f"{inst}_FILTER"] = obs["filter"][obs_of]
        cat[f"{inst}_SUBMODE"] = np.full(n_det, "PrimeFullWindow" if inst == "PN" else "PrimeFullWindow")
    cat["RA"], cat["DEC"] = det["ra"] * u.deg, det["dec"] * u.deg
    cat["POSERR"] = det["poserr"].astype(np.float32) * u.arcsec
    cat["RADEC_ERR"] = (det["poserr"] / np.sqrt(2)).astype(np.float32) * u.arcsec
    cat["SYSERRCC"] = np.full(n_det, 0.37, np.float32) * u.arcsec
    cat["LII"], cat["BII"] = galactic.l.deg * u.deg, galactic.b.deg * u.deg
    flux_unit = u.erg / u.cm ** 2 / u.s
    for b, k in zip((1, 2, 3, 4, 5), range(5)):
        cat[f"EP_{b}_FLUX"] = band_flux[:, k].astype(np.float32) * flux_unit
        cat[f"EP_{b}_FLUX_ERR"] = band_err[:, k].astype(np.float32) * flux_unit
    cat["EP_8_FLUX"] = det["flux"].astype(np.float32) * flux_unit
    cat["EP_8_FLUX_ERR"] = det["flux_err"].astype(np.float32) * flux_unit
    cat["EP_9_FLUX"] = band_flux[:, 1:4].sum(axis=1).astype(np.float32) * flux_unit
    cat["EP_9_FLUX_ERR"] = band_err[:, 1:4].sum(axis=1).astype(np.float32) * flux_unit
    for inst in ("PN", "M1", "M2"):
        cat[f"{inst}_8_FLUX"] = det[f"{inst}_flux"].astype(np.float32) * flux_unit
        cat[f"{inst}_8_FLUX_ERR"] = det[f"{inst}_flux_err"].astype(np.float32) * flux_unit
    cat["EP_8_RATE"] = det["rate"].astype(np.float32) / u.s
    cat["EP_8_RATE_ERR"] = (np.sqrt(det["counts"] + det["bkg"]) / obs["duration"][obs_of]).astype(np.float32) / u.s
    cat["EP_8_CTS"] = det["counts"].astype(np.float32)
    cat["EP_8_CTS_ERR"] = np.sqrt(det["counts"] + det["bkg"]).astype(np.float32)
    cat["EP_8_DET_ML"] = det["det_ml"].astype(np.float32)
    cat["EP_EXTENT"] = det["extent"].astype(np.float32) * u.arcsec
    cat["EP_EXTENT_ERR"] = np.where(det["extent"] > 0, 0.1 * det["extent"] + 1, np.nan).astype(np.float32) * u.arcsec
    cat["EP_EXTENT_ML"] = np.where(det["extent"] > 0, det["det_ml"] * 0.5, 0).astype(np.float32)
    for i in range(4):
        cat[f"EP_HR{i + 1}"] = hr[:, i].astype(np.float32)
        cat[f"EP_HR{i + 1}_ERR"] = hr_err[:, i].astype(np.float32)
    for inst in ("PN", "M1", "M2"):
        cat[f"{inst}_OFFAX"] = det["offax"].astype(np.float32) * u.arcmin
        cat[f"{inst}_ONTIME"] = det[f"{inst}_ontime"].astype(np.float32) * u.s
        cat[f"{inst}_CHI2PROB"] = det["chi2prob"].astype(np.float32)
    cat["PN_FVAR"] = np.where(det["var_flag"], rng.uniform(0.2, 0.6, n_det), np.nan).astype(np.float32)
    cat["PN_FVAR_ERR"] = np.where(det["var_flag"], 0.05, np.nan).astype(np.float32)
    cat["VAR_FLAG"] = det["var_flag"]
    cat["TSERIES"] = det["counts"] > 100
    cat["SPECTRA"] = det["counts"] > 100
    cat["SUM_FLAG"] = np.where(det["det_ml"] < 8, 1, 0).astype(np.int16)
    cat["HIGH_BACKGROUND"] = np.zeros(n_det, bool)
    cat["CONFUSED"] = det["confused"]
    cat["SC_RA"], cat["SC_DEC"] = sc_ra_det * u.deg, sc_dec_det * u.deg
    cat["SC_POSERR"] = (1.0 / np.sqrt(np.bincount(s_idx, w_pos, n_src)))[s_idx].astype(np.float32) * u.arcsec
    cat["SC_DET_ML"] = np.bincount(s_idx, det["det_ml"], n_src)[s_idx].astype(np.float32)
    for b in (1, 2, 3, 4, 5, 8, 9):
        f = np.asarray(cat[f"EP_{b}_FLUX"], float)
        e = np.asarray(cat[f"EP_{b}_FLUX_ERR"], float)
        w = 1.0 / np.maximum(e, 1e-30) ** 2
        cat[f"SC_EP_{b}_FLUX"] = _group_mean(s_idx, f, w, n_src)[s_idx].astype(np.float32) * flux_unit
        cat[f"SC_EP_{b}_FLUX_ERR"] = (1 / np.sqrt(np.bincount(s_idx, w, n_src)))[s_idx].astype(np.float32) * flux_unit
    for i in range(4):   # inverse-variance means over the detections that have the ratio
        has = np.isfinite(hr[:, i])
        w = np.where(has, 1.0 / np.where(has, hr_err[:, i], 1.0) ** 2, 0.0)
        total_w = np.bincount(s_idx, w, n_src)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(s_idx, np.where(has, hr[:, i], 0.0) * w, n_src) / total_w
            err = 1.0 / np.sqrt(total_w)
        cat[f"SC_HR{i + 1}"] = mean[s_idx].astype(np.float32)
        cat[f"SC_HR{i + 1}_ERR"] = err[s_idx].astype(np.float32)
    cat["SC_EXTENT"] = det["extent"].astype(np.float32) * u.arcsec
    cat["SC_EXT_ML"] = cat["EP_EXTENT_ML"]
    cat["SC_CHI2PROB"] = chi2min[s_idx].astype(np.float32)
    cat["SC_FVAR"] = np.where(sc_var[s_idx], 0.3, np.nan).astype(np.float32)
    cat["SC_FVAR_ERR"] = np.where(sc_var[s_idx], 0.05, np.nan).astype(np.float32)
    cat["SC_VAR_FLAG"] = sc_var[s_idx]
    sum_flag = np.zeros(n_src, np.int16)
    np.maximum.at(sum_flag, s_idx, np.asarray(cat["SUM_FLAG"]))
    cat["SC_SUM_FLAG"] = sum_flag[s_idx]
    for name, val, err in (("FMIN", fmin, emin), ("FMAX", fmax, emax)):
        cat[f"SC_EP_8_{name}"] = val[s_idx].astype(np.float32) * flux_unit
        cat[f"SC_EP_8_{name}_ERR"] = err[s_idx].astype(np.float32) * flux_unit
    cat["MJD_FIRST"], cat["MJD_LAST"] = mjd_first[s_idx], mjd_last[s_idx]
    cat["N_DETECTIONS"] = n_detections[s_idx].astype(np.int32)
    cat["IS_ULX"] = src["is_ulx"][true][s_idx]
    cat["COMMENTS"] = src["comment"][true][s_idx]

    obslist = Table()
    obslist["OBS_ID"] = obs["obs_id"]
    obslist["TARGET"] = obs["target"]
    obslist["RA_PNT"], obslist["DEC_PNT"] = obs["ra_pnt"] * u.deg, obs["dec_pnt"] * u.deg
    obslist["PA_PNT"] = obs["pa_pnt"] * u.deg
    obslist["MJD_START"], obslist["MJD_STOP"] = obs["mjd_start"], obs["mjd_stop"]
    obslist["REVOLUT"] = obs["revolut"].astype(np.int32)
    obslist["OBS_CLASS"] = np.zeros(len(obs["obs_id"]), np.int16)
    for inst in ("PN", "M1", "M2"):
        obslist[f"{inst}_FILTER"] = obs["filter"]
        obslist[f"{inst}_SUBMODE"] = np.full(len(obs["obs_id"]), "PrimeFullWindow")
        obslist[f"{inst}_ONTIME"] = obs["ontime"][inst].astype(np.float32) * u.s

    # Every true source, and the catalogue source it is seen as (0: never detected).
    truth = Table()
    truth["TRUE_ID"] = np.arange(1, len(src["ra"]) + 1, dtype=np.int64)
    truth["SRCID"] = np.where(srcid_of[src["parent"]] > 0, srcid_of[src["parent"]], 0).astype(np.int64)
    truth["PRIMARY"] = src["parent"] == np.arange(len(src["ra"]))
    truth["RA"], truth["DEC"] = src["ra"] * u.deg, src["dec"] * u.deg
    truth["FLUX"] = src["flux"] * flux_unit
    truth["GAMMA"] = src["gamma"]
    truth["NH"] = src["nh"] * 1e22 / u.cm ** 2
    truth["EXTENT"] = src["extent"] * u.arcsec
    truth["VARIABLE"] = src["variable"]
    truth["IS_ULX"] = src["is_ulx"]
    # Every source in every observation that covered it: the truth of that epoch.
    detid_of = np.zeros(len(order) + 1, np.int64)          # epochs' det index (-1: none) -> DETID
    detid_of[:-1][order] = np.arange(1, n_det + 1)
    epochs = Table()
    epochs["TRUE_ID"] = (epoch["src"] + 1).astype(np.int64)
    epochs["OBS_ID"] = obs["obs_id"][epoch["obs"]]
    epochs["FLUX"] = epoch["flux"] * flux_unit
    epochs["GAMMA"] = epoch["gamma"]
    for inst in ("PN", "M1", "M2"):
        epochs[f"{inst}_EXPECTED"] = epoch[f"expected_{inst}"]
    epochs["DETID"] = detid_of[epoch["det"]]
    return cat, obslist, truth, epochs, true


REOBSERVE_ROUNDS = 10


def fainter_of_clashes(cat, min_sep_arcsec=MIN_SEPARATION_ARCSEC) -> np.ndarray:
    """SRCIDs to drop: of two catalogue sources closer than min_sep_arcsec (or sharing an
    IAU name), the fainter. Sources are separated on the sky at that distance, but their
    measured positions scatter: the catalogue, like the pipeline's, keeps them apart."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord, search_around_sky

    ids = np.asarray(cat["SRCID"])
    first = np.unique(ids, return_index=True)[1]       # one row per source
    ids, flux, names = ids[first], np.asarray(cat["SC_EP_8_FLUX"])[first], np.asarray(cat["IAUNAME"])[first]
    c = SkyCoord(np.asarray(cat["SC_RA"])[first] * u.deg, np.asarray(cat["SC_DEC"])[first] * u.deg)
    i, j, _, _ = search_around_sky(c, c, min_sep_arcsec * u.arcsec)
    pair = i < j
    i, j = i[pair], j[pair]
    order = np.argsort(names, kind="stable")
    same = np.flatnonzero(names[order][1:] == names[order][:-1])
    i, j = np.r_[i, order[same]], np.r_[j, order[same + 1]]
    fainter = np.where(flux[i] < flux[j], i, j)
    return np.unique(ids[fainter])


def write_catalogue(out, rng, n_sources=None):
    """Writes out/catalogue/{obslist,cat}.fits and out/truth/{sources,epochs}.fits; returns the tables."""
    from pathlib import Path

    out = Path(out)
    extra = 0 if n_sources is None else max(int(n_sources / 40) - len(FIELDS), 0)  # ~40 detected per field
    obs, src = simulate_sky(rng, FIELDS, extra)
    src["fractions"] = band_fractions(src["gamma"], src["nh"])  # once: the loop below only removes sources
    # Catalogue sources closer than MIN_SEPARATION_ARCSEC (measured positions scatter):
    # drop the fainter of each pair and observe again. Re-observing draws new clashes in a
    # large sky, so after REOBSERVE_ROUNDS (the bundled sample needs all of them) the
    # remaining clashes are resolved on the detections already drawn.
    for round_no in itertools.count():
        if round_no < REOBSERVE_ROUNDS:
            src["parent"] = confusion_parents(src)
            det, epoch = observe(rng, obs, src)
        cat, obslist, truth, epochs, true_index = catalogue_tables(rng, obs, src, det, epoch)
        drop = fainter_of_clashes(cat)
        if not len(drop):
            break
        keep = ~np.isin(src["parent"], true_index[drop - 1])   # the source and those it absorbed
        new_index = np.cumsum(keep) - 1           # old true-source index -> new
        src = {k: v[keep] for k, v in src.items()}
        src["parent"] = new_index[src["parent"]]
        kept_det = keep[det["src"]]
        det = {k: v[kept_det] for k, v in det.items()}
        det["src"] = new_index[det["src"]]
        kept_epoch = keep[epoch["src"]]
        renumber = np.full(len(kept_det) + 1, -1)
        renumber[:-1][kept_det] = np.arange(kept_det.sum())
        epoch = {k: v[kept_epoch] for k, v in epoch.items()}
        epoch["src"], epoch["det"] = new_index[epoch["src"]], renumber[epoch["det"]]
    (out / "catalogue").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    for table, path, extname in ((obslist, out / "catalogue" / "xmmdb_sample_obslist.fits", "OBSERVATIONS"),
                                 (cat, out / "catalogue" / "xmmdb_sample_cat.fits", "SRCLIST"),
                                 (truth, out / "truth" / "sources.fits", "TRUTH"),
                                 (epochs, out / "truth" / "epochs.fits", "EPOCHS")):
        table.meta["EXTNAME"] = extname
        table.meta["ORIGIN"] = "xmmdb simulate"
        table.write(path, overwrite=True)
    return cat, obslist, truth, epochs
