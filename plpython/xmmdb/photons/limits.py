"""Aperture photometry and upper limits at any sky position, from the photons and
exposure maps (xmm_upper_limit, xmm_long_term_lightcurve; docs/upper-limits.md).

For each exposure that saw the position, each camera and each energy band:

    N   photons within the aperture, radius r (by default the radius that holds
        `eef` = 70 % of a point source's photons at the band's energy and the
        position's off-axis angle, xmmdb.photons.psf), standard event selection
    B   photons in the annulus bkg_inner..bkg_outer, catalogue detections of the
        observation masked (circles of MASK_ARCSEC), scaled by the area ratio a
    t   exposure (s) at the position: the exposure map's pixel in that band when
        loaded, else the CCD's on-time times the mean vignetting (VIGNETTING)
    f   encircled-energy fraction of the aperture
    rate       = (N - aB) / (t f'),  rate_err = sqrt(N + a²B) / (t f'),  f' = f - a f_ring,
                 f_ring the fraction of the source in the annulus (its wings: N = s f + b,
                 B = s f_ring + b / a)
    rate_upper = S / (t f'), S the Bayesian upper limit of the source counts
                 (Kraft, Burrows & Nousek 1991: Poisson likelihood, flat prior on
                 s >= 0, known background aB):  ∫_0^S p(s | N, aB) ds = confidence
    flux = rate / ECF, ECF the count rate per unit flux (erg/cm²/s, absorbed, in the
           band) of the spectral model folded through the camera's canned on-axis
           ARF and RMF (absorbed power law, gamma 1.7, nH 3e20 cm⁻² by default)

A catalogue detection of the observation within the aperture is given beside
the measurement (detid and its flux in the band: per camera for band 8,
EPIC for the others).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import NotFound, XmmError
from ..instruments import BANDS
from ..options import (CAMERA, CHECKED_IN_SQL, FRACTION, INTEGERS, NONNEGATIVE, NUMBER, POSITIVE, TEXT, parse)
from . import psf
from .access import SELECTION_KEYS, fetch_coverage, fetch_positions
from .sky import offsets

MAX_APERTURE_ARCSEC = 120.0
MAX_ANNULUS_ARCSEC = 600.0
FIELD_DEG = 0.3               # an EPIC field: 15' about the pointing, a few arcmin of margin
MASK_ARCSEC = 20.0            # a catalogue detection's masked circle in the background annulus
GRID_ARCSEC = 2.0             # the masked annulus's area is counted on a grid this fine (or 1 % of its radius)
KEV_TO_ERG = 1.602176634e-9

OPTIONS = {
    "bands": (INTEGERS, [8]),
    "confidence": (FRACTION, 0.9),
    "eef": (FRACTION, 0.7),
    "radius": (POSITIVE, None, MAX_APERTURE_ARCSEC),
    "bkg_inner": (POSITIVE, 40.0, MAX_ANNULUS_ARCSEC),
    "bkg_outer": (POSITIVE, 80.0, MAX_ANNULUS_ARCSEC),
    "gamma": (NUMBER, 1.7, 6.0),
    "nh": (NONNEGATIVE, 3e20, 1e25),
    "obs_id": (TEXT, None),
    "instrument": (CAMERA, None),
    **{key: (CHECKED_IN_SQL, None) for key in SELECTION_KEYS},
}


def check_position(ra, dec, function: str) -> tuple[float, float]:
    if ra is None or dec is None or not (math.isfinite(ra) and math.isfinite(dec)):
        raise XmmError(f"{function}: the position must be finite numbers (ra, dec in degrees)")
    if not -90.0 <= dec <= 90.0:
        raise XmmError(f"{function}: dec {dec:g} is not between -90 and 90 degrees")
    return float(ra) % 360.0, float(dec)


def options_of(options, function: str, spec: dict = OPTIONS) -> dict:
    opts = parse(options, spec, function)
    unknown = [b for b in opts["bands"] if b not in BANDS]
    if unknown:
        raise XmmError(f"{function}: unknown band {unknown[0]}",
                       hint="bands: " + ", ".join(f"{b} ({lo / 1000:g}-{hi / 1000:g} keV)" for b, (lo, hi) in BANDS.items()))
    opts["bands"] = sorted(set(opts["bands"]))
    if not 0 < opts["confidence"] < 1:
        raise XmmError(f"{function}: option 'confidence' must be between 0 and 1 (exclusive), not {opts['confidence']:g}")
    if not 0.3 <= opts["eef"] <= 0.95:
        raise XmmError(f"{function}: option 'eef' is {opts['eef']:g}: use 0.3 to 0.95 of a point source's photons",
                       hint="or give the aperture's radius in arcsec: {\"radius\": 15}")
    if opts["gamma"] < -3:
        raise XmmError(f"{function}: option 'gamma' is {opts['gamma']:g}; it may be at least -3")
    if opts["bkg_outer"] <= opts["bkg_inner"]:
        raise XmmError(f"{function}: the background annulus is empty: bkg_outer {opts['bkg_outer']:g} <= "
                       f"bkg_inner {opts['bkg_inner']:g} arcsec")
    return opts


def upper_bound(n, background, confidence):
    """The Bayesian upper limit S of source counts (Kraft, Burrows & Nousek 1991): with
    N counts, a known background B and a flat prior on s >= 0, the posterior is
    p(s) ∝ (s + B)^N e^-(s + B), and ∫_0^S p ds = confidence. Its CDF is a ratio of
    regularised upper incomplete gamma functions Q(N + 1, ·), so S is closed-form:
        Q(N + 1, S + B) = (1 - confidence) Q(N + 1, B)."""
    from scipy.special import gammaincc, gammainccinv

    n1 = np.asarray(n, float) + 1.0
    b = np.asarray(background, float)
    return gammainccinv(n1, (1.0 - confidence) * gammaincc(n1, b)) - b


def annulus_area(inner: float, outer: float, holes) -> float:
    """arcsec² of the annulus inner..outer about the origin less circles (x, y, r) arcsec."""
    ring = math.pi * (outer ** 2 - inner ** 2)
    holes = [h for h in holes if math.hypot(h[0], h[1]) - h[2] < outer and math.hypot(h[0], h[1]) + h[2] > inner]
    if not holes:
        return ring
    x, y = _annulus_grid(inner, outer)
    return ring * (1.0 - masked(x, y, holes).mean())


def masked(x, y, holes) -> np.ndarray:
    """Which points (x, y) arcsec lie in a hole (x, y, r): a few million point-hole pairs at a
    time, so that memory stays bounded however many photons and detections the annulus holds."""
    out = np.zeros(len(x), bool)
    if not holes or not len(x):
        return out
    h = np.asarray(holes, float)
    step = max(1, 4_000_000 // len(x))
    for k in range(0, len(h), step):
        c = h[k:k + step]
        out |= ((x[:, None] - c[None, :, 0]) ** 2 + (y[:, None] - c[None, :, 1]) ** 2 < c[None, :, 2] ** 2).any(axis=1)
    return out


_GRIDS: dict = {}


def _annulus_grid(inner: float, outer: float):
    """The points of a GRID_ARCSEC grid that lie in the annulus (kept per backend)."""
    if (inner, outer) not in _GRIDS:
        step = max(GRID_ARCSEC, outer / 100.0)       # at most ~31,000 points, whatever the annulus
        g = np.arange(-outer + step / 2, outer, step)
        x, y = np.meshgrid(g, g)
        r = np.hypot(x, y)
        inside = (r >= inner) & (r < outer)
        if len(_GRIDS) > 32:
            _GRIDS.clear()
        _GRIDS[inner, outer] = (x[inside], y[inside])
    return _GRIDS[inner, outer]


# --- flux conversion -----------------------------------------------------------------------

# How canned response files of each camera are named (the pipeline's RMFs: epn_…, m1_…, m2_…);
# a content shared by MOS1 and MOS2 is stored once, under the instrument of its first file.
NAME_PREFIXES = {"EPN": ("epn", "pn"), "EMOS1": ("m1",), "EMOS2": ("m2",)}


def canned_responses(db) -> list[dict]:
    """The canned responses of the store: id, kind, instrument and names (lower case)."""
    return db.query("SELECT response_id, kind, instrument, lower(array_to_string(names, ' ')) AS names "
                    "FROM xmm.response WHERE canned ORDER BY loaded_at DESC, response_id DESC")


def camera_responses(db, instrument: str, filt: str | None, canned: list[dict] | None = None):
    """(rmf id, arf id) of the camera's canned responses: the newest canned RMF and ARF of the
    instrument (by INSTRUME or by name), an ARF whose name says the exposure's filter first."""
    canned = canned_responses(db) if canned is None else canned
    prefixes = tuple(p + "_" for p in NAME_PREFIXES[instrument])
    rows = [r for r in canned if r["instrument"] == instrument or any(n.startswith(prefixes) for n in r["names"].split())]
    rmf = next((r["response_id"] for r in rows if r["kind"] == "rmf"), None)
    arfs = [r for r in rows if r["kind"] == "arf"]
    f = (filt or "").strip().lower()
    arf = next((r["response_id"] for r in arfs if f and f in r["names"]), arfs[0]["response_id"] if arfs else None)
    return rmf, arf


_ECF_CACHE: dict = {}      # per backend: (responses, band, model) -> ECF


def ecf(db, rmf_id: int, arf_id: int, emin: float, emax: float, gamma: float, nh: float) -> float:
    """Counts/s per erg/cm²/s of the absorbed power law (photon index gamma, nH cm⁻²)
    in the band emin..emax eV."""
    counts, flux = model_band(db, rmf_id, arf_id, emin, emax, gamma, nh)
    return counts / flux if flux > 0 else float("nan")


def model_counts(db, rmf_id: int, arf_id: int, gamma: float, nh: float):
    """(channel centres keV, counts/s per channel) of the absorbed power law of unit
    normalisation folded through the ARF and RMF (Simpson's rule within each bin of the
    RMF's energy grid: the absorption edges are sharp)."""
    key = ("counts", rmf_id, arf_id, gamma, nh)
    if key not in _ECF_CACHE:
        from ..spectral.absorption import sigma
        from ..spectral.responses import fold, response

        rmf, arf = response(db, rmf_id), response(db, arf_id)
        lo, hi = rmf.energ_lo, rmf.energ_hi
        if len(arf.specresp) != len(lo) or not np.allclose(arf.energ_lo, lo, rtol=1e-5):
            raise XmmError(f"the canned ARF {arf.name} and RMF {rmf.name} have different energy grids")
        n = 8
        e = lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, n + 1)[None, :]
        w = np.array([1] + [4 if k % 2 else 2 for k in range(1, n)] + [1]) / (3 * n)
        spec = e ** -gamma * np.exp(-nh / 1e22 * sigma("phabs_angr", e.ravel()).reshape(e.shape))
        photons = (spec * w).sum(axis=1) * (hi - lo)              # photons/cm²/s per bin (norm 1)
        _remember(key, (0.5 * (rmf.e_min + rmf.e_max), fold(rmf, arf, photons)))
    return _ECF_CACHE[key]


def model_band(db, rmf_id: int, arf_id: int, emin: float, emax: float, gamma: float, nh: float):
    """(counts/s, erg/cm²/s) of the absorbed power law of unit normalisation in the band
    emin..emax eV: the counts of the channels whose centre lies in the band, and the
    energy flux between emin and emax."""
    key = (rmf_id, arf_id, emin, emax, gamma, nh)
    if key not in _ECF_CACHE:
        from ..spectral.absorption import sigma

        mid, counts = model_counts(db, rmf_id, arf_id, gamma, nh)
        in_band = (mid * 1000.0 >= emin) & (mid * 1000.0 < emax)
        eb = np.geomspace(emin / 1000.0, emax / 1000.0, 2001)
        energy = eb ** (1 - gamma) * np.exp(-nh / 1e22 * sigma("phabs_angr", eb))
        _remember(key, (float(counts[in_band].sum()), float(np.trapezoid(energy, eb) * KEV_TO_ERG)))
    return _ECF_CACHE[key]


def _remember(key, value) -> None:
    if len(_ECF_CACHE) > 256:
        _ECF_CACHE.pop(next(iter(_ECF_CACHE)))
    _ECF_CACHE[key] = value


# --- the measurement -----------------------------------------------------------------------

LIMIT_COLUMNS = ("obs_id", "instrument", "exp_id", "band", "emin", "emax", "mjd", "offaxis", "radius",
                 "psf_fraction", "counts", "bkg_counts", "bkg_ratio", "exposure", "exposure_from", "rate", "rate_err",
                 "rate_upper", "ecf", "flux", "flux_err", "flux_upper", "confidence", "detid", "catalogue_flux",
                 "catalogue_flux_err")


def measure(db, ra: float, dec: float, opts: dict, function: str) -> list[dict]:
    """One row (LIMIT_COLUMNS) per exposure x band that saw (ra, dec)."""
    # Exposures whose field may hold the position (tangent point within FIELD_DEG), then
    # their maps' pixels there: a map says whether (0: off the field, in a gap) and how
    # long. Only exposures without maps ask the events which CCD is there (xmm_coverage).
    candidates = db.query(
        "SELECT obs_id, instrument, exp_id, filter, coalesce(ra_pnt, ra_ref) AS ra_pnt, "
        "coalesce(dec_pnt, dec_ref) AS dec_pnt, 50814 + (tstart + tstop) / 2 / 86400 AS mjd FROM xmm.exposure "
        "WHERE q3c_join($1, $2, ra_ref, dec_ref, $3) AND obs_id = coalesce($4, obs_id) "
        "AND instrument = coalesce($5, instrument) ORDER BY obs_id, instrument, exp_id",
        (ra, dec, FIELD_DEG, opts["obs_id"], opts["instrument"]), ("float8", "float8", "float8", "text", "text"))
    if not candidates:
        return []
    keys = [(r["obs_id"], r["instrument"], r["exp_id"]) for r in candidates]
    maps = {}
    for r in db.query(
            "SELECT m.obs_id, m.instrument, m.exp_id, m.emin, m.emax, coalesce(xmm.map_value(m.pixels, $1, $2, m.nx, "
            "m.ny, m.crpix1, m.crpix2, m.crval1, m.crval2, m.cdelt1, m.cdelt2), 0) AS exposure FROM xmm.exposure_map m "
            "JOIN unnest($3::text[], $4::text[], $5::text[]) AS k(obs_id, instrument, exp_id) "
            "USING (obs_id, instrument, exp_id)",
            (ra, dec, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            ("float8", "float8", "text[]", "text[]", "text[]")):
        maps.setdefault((r["obs_id"], r["instrument"], r["exp_id"]), []).append(
            (float(r["emin"]), float(r["emax"]), float(r["exposure"])))
    ontime = {}
    if any(k not in maps for k in keys):
        cover = fetch_coverage(db, ra, dec)
        ontime = {(str(o), str(i), str(e)): float(t) for o, i, e, t in
                  zip(cover["obs_id"], cover["instrument"], cover["exp_id"], cover["ontime"])}
    seen = [r for r, k in zip(candidates, keys)
            if (k in maps and any(m[2] > 0 for m in maps[k])) or (k not in maps and k in ontime)]
    if not seen:
        return []
    for r in seen:
        r["theta"] = float(np.hypot(*offsets(r["ra_pnt"], r["dec_pnt"], ra, dec))) / 60.0
    bands = [(b, *BANDS[b]) for b in opts["bands"]]
    outer = opts["bkg_outer"]
    radii = {(id(r), b): opts["radius"] or min(float(psf.radius_enclosing(
        r["instrument"], opts["eef"], math.sqrt(lo * hi) / 1000.0, r["theta"])), MAX_APERTURE_ARCSEC)
        for r in seen for b, lo, hi in bands}
    reach = max(outer, max(radii.values()))
    photons = fetch_positions(db, ra, dec, reach, min(b[1] for b in bands), max(b[2] for b in bands), opts["obs_id"],
                              opts)
    east, north = offsets(ra, dec, photons["ra"], photons["dec"])
    dist = np.hypot(east, north)
    detections = db.query(
        "SELECT detid, obs_id, ra, dec, ep_1_flux, ep_1_flux_err, ep_2_flux, ep_2_flux_err, ep_3_flux, ep_3_flux_err, "
        "ep_4_flux, ep_4_flux_err, ep_5_flux, ep_5_flux_err, ep_8_flux, ep_8_flux_err, ep_9_flux, ep_9_flux_err, "
        "pn_8_flux, pn_8_flux_err, m1_8_flux, m1_8_flux_err, m2_8_flux, m2_8_flux_err "
        "FROM xmm.detections_in_cone($1, $2, $3) WHERE obs_id = ANY ($4)",
        (ra, dec, (reach + MASK_ARCSEC) / 3600.0, sorted({r["obs_id"] for r in seen})),
        ("float8", "float8", "float8", "text[]"))
    for d in detections:
        d["east"], d["north"] = (float(v) for v in offsets(ra, dec, d["ra"], d["dec"]))
        d["sep"] = math.hypot(d["east"], d["north"])
    rows, responses, canned = [], {}, None
    for exp in seen:
        key = obs_id, inst, exp_id = exp["obs_id"], exp["instrument"], exp["exp_id"]
        theta = exp["theta"]
        mine = np.flatnonzero((photons["obs_id"] == obs_id) & (photons["instrument"] == inst)
                              & (photons["exp_id"] == exp_id))
        own = [d for d in detections if d["obs_id"] == obs_id]
        if (inst, exp["filter"]) not in responses:
            canned = canned if canned is not None else canned_responses(db)
            responses[inst, exp["filter"]] = camera_responses(db, inst, exp["filter"], canned)
        rmf_id, arf_id = responses[inst, exp["filter"]]
        for band, emin, emax in bands:
            radius = radii[id(exp), band]
            inner = max(opts["bkg_inner"], radius)
            if inner >= outer:
                raise XmmError(f"{function}: the aperture ({radius:.1f}\") reaches the background annulus's outer "
                               f"radius ({outer:g}\")", hint="raise bkg_outer or lower radius/eef")
            spectrum = model_counts(db, rmf_id, arf_id, opts["gamma"], opts["nh"]) if rmf_id and arf_id else None
            f = psf.band_encircled_energy(inst, radius, emin / 1000.0, emax / 1000.0, theta, spectrum)
            pi = photons["pi"][mine]
            here = mine[(pi >= emin) & (pi < emax)]
            n = int(np.count_nonzero(dist[here] < radius))
            holes = [(d["east"], d["north"], MASK_ARCSEC) for d in own
                     if d["sep"] >= radius and inner - MASK_ARCSEC < d["sep"] < outer + MASK_ARCSEC]
            ring = here[(dist[here] >= inner) & (dist[here] < outer)]
            ring = ring[~masked(east[ring], north[ring], holes)]
            b = int(ring.size)
            area = annulus_area(inner, outer, holes)
            ratio = math.pi * radius ** 2 / area
            def weight(lo, hi, rmf_id=rmf_id, arf_id=arf_id):
                if rmf_id and arf_id:
                    return model_band(db, rmf_id, arf_id, lo, hi, opts["gamma"], opts["nh"])[0]
                return hi - lo
            t, source = _exposure(maps.get(key, []), emin, emax, ontime.get(key, 0.0), theta, weight)
            if not t > 0:
                continue
            # the source's own wings in the annulus: N = s f + B_ap, B = s f_ring + B_ap / a
            f_ring = (psf.band_encircled_energy(inst, outer, emin / 1000.0, emax / 1000.0, theta, spectrum)
                      - psf.band_encircled_energy(inst, inner, emin / 1000.0, emax / 1000.0, theta, spectrum)
                      ) * area / (math.pi * (outer ** 2 - inner ** 2))     # less what the masks hide
            scale = t * (f - ratio * f_ring)
            ul = float(upper_bound(n, ratio * b, opts["confidence"])) / scale
            rate = (n - ratio * b) / scale
            err = math.sqrt(n + ratio ** 2 * b) / scale
            conv = ecf(db, rmf_id, arf_id, emin, emax, opts["gamma"], opts["nh"]) if rmf_id and arf_id else None
            inside = sorted((d for d in own if d["sep"] < radius), key=lambda d: d["sep"])
            det = inside[0] if inside else None
            cat, cat_err = _catalogue_flux(det, band, inst)
            rows.append(dict(obs_id=obs_id, instrument=inst, exp_id=exp_id, band=band, emin=emin, emax=emax,
                             mjd=float(exp["mjd"]), offaxis=theta, radius=radius, psf_fraction=f, counts=n,
                             bkg_counts=b, bkg_ratio=ratio, exposure=t, exposure_from=source, rate=rate,
                             rate_err=err, rate_upper=ul, ecf=conv,
                             flux=None if not conv else rate / conv, flux_err=None if not conv else err / conv,
                             flux_upper=None if not conv else ul / conv, confidence=opts["confidence"],
                             detid=None if det is None else det["detid"], catalogue_flux=cat, catalogue_flux_err=cat_err))
    return rows


def _exposure(maps, emin: float, emax: float, ontime: float, theta: float, weight) -> tuple[float, str]:
    """Exposure (s) of the band at the position, and where it comes from: the band's own map;
    else the maps of bands that tile it (the catalogue's 8 and 9 from 1-5), averaged with the
    weights of the model's counts in each; else the map that overlaps it most; else the
    on-time of the CCD times the mean vignetting."""
    for lo, hi, value in maps:
        if (lo, hi) == (emin, emax):
            return value, "map"
    inside = sorted(m for m in maps if m[0] >= emin and m[1] <= emax)
    edges = [emin] + [x for m in inside for x in m[:2]] + [emax]
    if inside and all(a == b for a, b in zip(edges[::2], edges[1::2])):
        w = np.array([weight(lo, hi) for lo, hi, _ in inside])
        return float(np.dot(w, [m[2] for m in inside]) / w.sum()), "maps"
    # a band the maps do not have: the map whose band overlaps it most
    best = max(maps, key=lambda m: min(m[1], emax) - max(m[0], emin), default=None)
    if best is not None and min(best[1], emax) > max(best[0], emin):
        return best[2], f"map {best[0] / 1000:g}-{best[1] / 1000:g} keV"
    return ontime * float(psf.vignetting(theta)), "on-time"


def _catalogue_flux(det, band: int, instrument: str):
    if det is None:
        return None, None
    prefix = {"EPN": "pn", "EMOS1": "m1", "EMOS2": "m2"}[instrument] if band == 8 else "ep"
    return det.get(f"{prefix}_{band}_flux"), det.get(f"{prefix}_{band}_flux_err")


def _plain(value):
    """A numpy scalar as the Python number PL/Python hands to PostgreSQL."""
    return value.item() if isinstance(value, np.generic) else value


def upper_limits(db, ra, dec, options=None):
    """xmm_upper_limit(ra, dec, options): rows of LIMIT_COLUMNS."""
    ra, dec = check_position(ra, dec, "xmm_upper_limit")
    opts = options_of(options, "xmm_upper_limit")
    return [tuple(_plain(r[c]) for c in LIMIT_COLUMNS) for r in measure(db, ra, dec, opts, "xmm_upper_limit")]


# --- long-term light curves ----------------------------------------------------------------

LIGHTCURVE_OPTIONS = {**OPTIONS, "match": (POSITIVE, 10.0, 60.0)}
LIGHTCURVE_COLUMNS = ("obs_id", "mjd", "date", "band", "detected", "detid", "flux", "flux_err", "flux_upper",
                      "confidence", "counts", "exposure", "measured_from")


def _date(mjd: float):
    from datetime import datetime, timedelta, timezone

    return datetime(1858, 11, 17, tzinfo=timezone.utc) + timedelta(days=float(mjd))


def long_term_lightcurve(db, target, options=None):
    """xmm_long_term_lightcurve(srcid | (ra, dec), options): one row per observation whose
    field of view holds the position and per band, oldest first: the catalogue's flux
    where a detection lies within `match` arcsec (of the source, for a srcid), else the
    flux and its upper limit from the photons of all cameras together (their counts and
    backgrounds summed, each camera's exposure x PSF fraction x ECF summed), else (no
    photons loaded) a row that says only that the position was observed."""
    function = "xmm_long_term_lightcurve"
    opts = options_of(options, function, LIGHTCURVE_OPTIONS)
    match = opts.pop("match")
    if isinstance(target, tuple):
        ra, dec = check_position(*target, function + "_at")
        srcid = None
    else:
        srcid = target
        src = db.query("SELECT sc_ra, sc_dec FROM xmm.source WHERE srcid = $1", (srcid,), ("bigint",))
        if not src:
            raise NotFound(f"{function}: source {srcid} is not in the catalogue")
        ra, dec = float(src[0]["sc_ra"]), float(src[0]["sc_dec"])
    observations = db.query(
        "SELECT obs_id, (mjd_start + mjd_stop) / 2 AS mjd FROM xmm.observation "
        "WHERE footprint @> spoint(radians($1), radians($2)) AND obs_id = coalesce($3, obs_id) ORDER BY mjd_start, obs_id",
        (ra, dec, opts["obs_id"]), ("float8", "float8", "text"))
    detections = db.query(
        "SELECT DISTINCT ON (obs_id) detid, obs_id, " + ", ".join(
            f"ep_{b}_flux, ep_{b}_flux_err" for b in (1, 2, 3, 4, 5, 8, 9)) +
        " FROM xmm.detection WHERE " + ("srcid = $3" if srcid is not None else
                                        "q3c_radial_query(ra, dec, $1, $2, $4)") +
        " ORDER BY obs_id, q3c_dist(ra, dec, $1, $2)",
        (ra, dec, srcid, match / 3600.0), ("float8", "float8", "bigint", "float8"))
    detected = {d["obs_id"]: d for d in detections}
    loaded = {r["obs_id"] for r in db.query("SELECT DISTINCT obs_id FROM xmm.exposure WHERE obs_id = ANY ($1)",
                                            ([o["obs_id"] for o in observations],), ("text[]",))}
    out = []
    for o in observations:
        obs_id, mjd = o["obs_id"], float(o["mjd"])
        det = detected.get(obs_id)
        measured = measure(db, ra, dec, {**opts, "obs_id": obs_id}, function) if obs_id in loaded and not det else []
        for band in opts["bands"]:
            row = dict(obs_id=obs_id, mjd=mjd, date=_date(mjd), band=band, detected=det is not None,
                       detid=None if det is None else det["detid"], flux=None, flux_err=None, flux_upper=None,
                       confidence=None, counts=None, exposure=None, measured_from="not loaded")
            if det is not None:
                row.update(flux=det[f"ep_{band}_flux"], flux_err=det[f"ep_{band}_flux_err"], measured_from="catalogue")
            elif obs_id in loaded:
                cams = [m for m in measured if m["band"] == band]
                row.update(measured_from="photons", confidence=opts["confidence"])
                if cams:
                    n = sum(m["counts"] for m in cams)
                    bkg = sum(m["bkg_ratio"] * m["bkg_counts"] for m in cams)
                    row.update(counts=n, exposure=max(m["exposure"] for m in cams))
                    if all(m["ecf"] for m in cams):
                        per_flux = sum(m["exposure"] * m["psf_fraction"] * m["ecf"] for m in cams)
                        row.update(flux=(n - bkg) / per_flux,
                                   flux_err=math.sqrt(n + sum(m["bkg_ratio"] ** 2 * m["bkg_counts"] for m in cams)) / per_flux,
                                   flux_upper=float(upper_bound(n, bkg, opts["confidence"])) / per_flux)
            out.append(tuple(_plain(row[c]) for c in LIGHTCURVE_COLUMNS))
    return out
