"""A Sherpa fit of EPIC spectra given as arrays.

Only Sherpa's object API is used (DataPHA/DataARF/DataRMF, Response1D, Fit,
statistics, optimisers, error estimators): no `sherpa.astro.ui` session, so
nothing leaks between calls in one backend. Everything runs on one core
(Sherpa's Confidence defaults to a process pool; it is switched off here).

    result = fit([Spectrum(...)], "phabs_pl", {"emin": 0.3, "group": 20})
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import XmmError
from ..options import BOOL, COUNT_OR_FILE, NAME_OR_ID, OBJECT, POSITIVE, parse
from . import models
from .responses import Arf, Rmf  # noqa: F401  (the fitting's inputs, also named here)

STATS = ("chi2xspecvar", "chi2gehrels", "chi2datavar", "cstat", "wstat")
METHODS = ("levmar", "neldermead", "moncar")
ERRORS = ("covar", "conf", "none")
DEFAULT_RANGE = {"EPN": (0.2, 12.0), "EMOS1": (0.2, 10.0), "EMOS2": (0.2, 10.0)}
FLUX_BAND = (0.2, 12.0)
MAX_GROUP = 100000
MAX_ENERGY = 100.0     # keV
# The options of every fitting function (xmmdb.options.parse). joint and refit are read in SQL
# before a fit, by the cache (xmm.fit_options checks them there; they never reach a fit).
OPTIONS = {
    "emin": (POSITIVE, None, MAX_ENERGY),      # keV; default: the camera's range (DEFAULT_RANGE)
    "emax": (POSITIVE, None, MAX_ENERGY),
    "group": (COUNT_OR_FILE, 20, MAX_GROUP),   # least counts a group, 0: none, "file": the file's GROUPING
    "stat": (STATS, None),                     # default: chi2xspecvar when grouped, else wstat or cstat
    "method": (METHODS, "levmar"),
    "errors": (ERRORS, "covar"),
    "params": (OBJECT, None),                  # {"PhoIndex": 2} or {"nH": {"value", "min", "max", "frozen"}}
    "spectrum": (NAME_OR_ID, None),            # which of a detection's spectra
    "joint": (BOOL, None),
    "refit": (BOOL, None),
}


@dataclass
class Pha:
    name: str
    channel: np.ndarray
    counts: np.ndarray
    exposure: float
    backscal: float
    areascal: float = 1.0
    quality: np.ndarray | None = None
    grouping: np.ndarray | None = None      # the file's GROUPING column (1 starts a group, -1 continues it)


@dataclass
class Spectrum:
    """A source spectrum with what it needs to be fitted."""
    source: Pha
    instrument: str
    rmf: Rmf | None
    arf: Arf | None = None
    background: Pha | None = None
    extra: dict = field(default_factory=dict)   # e.g. spectrum_id, detid: carried into the result


@contextlib.contextmanager
def quiet():
    """Sherpa reports through the `sherpa` logger and warnings: keep the server log clean."""
    logger = logging.getLogger("sherpa")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_options(options) -> dict:
    """Every option with its value or default; an XmmError names the bad key."""
    out = parse(options, OPTIONS, "fit options")
    if out["emin"] is not None and out["emax"] is not None and out["emin"] >= out["emax"]:
        raise XmmError(f"fit options: emin {out['emin']:g} must be below emax {out['emax']:g}")
    return out


def json_type(value) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def _param_options(built: models.Built, params: dict) -> dict:
    """{sherpa Parameter: spec dict} from the user's params option."""
    out = {}
    by_full = {p.fullname.lower(): p for p in built.params()}
    for key, spec in params.items():
        k = key.lower()
        matches = [by_full[k]] if k in by_full else [p for p in built.params() if p.name.lower() == k]
        if not matches:
            raise XmmError(f"options: params: unknown parameter {key!r} of model {built.expression}",
                           hint="parameters: " + ", ".join(p.fullname for p in built.params()))
        if len(matches) > 1:
            raise XmmError(f"options: params: {key!r} is ambiguous in {built.expression}",
                           hint="use one of " + ", ".join(p.fullname for p in matches))
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = {"value": spec}
        if not isinstance(spec, dict):
            raise XmmError(f"options: params: {key!r} must be a number or an object "
                           f'{{"value", "min", "max", "frozen"}}, got {json_type(spec)}')
        for sub, value in spec.items():
            if sub not in ("value", "min", "max", "frozen"):
                raise XmmError(f"options: params: {key!r}: unknown key {sub!r}", hint="value, min, max, frozen")
            want_bool = sub == "frozen"
            if want_bool != isinstance(value, bool) or not isinstance(value, (int, float)):
                raise XmmError(f"options: params: {key!r}.{sub} must be a {'boolean' if want_bool else 'number'}, "
                               f"got {json_type(value)} {value!r}")
        out[matches[0]] = spec
    return out


def _apply_params(specs: dict) -> None:
    for par, spec in specs.items():
        try:
            if "min" in spec:
                par.min = spec["min"]
            if "max" in spec:
                par.max = spec["max"]
            if "value" in spec:
                par.val = spec["value"]
            if "frozen" in spec:
                par.frozen = spec["frozen"]
        except Exception as exc:  # Sherpa's ParameterErr: outside the hard limits, min > max, ...
            raise XmmError(f"options: params: {par.fullname}: {exc}",
                           hint=f"hard limits of {par.fullname}: [{par.hard_min:g}, {par.hard_max:g}]") from None


class _Refuse:
    """A finder (sys.meta_path) for which the named modules do not exist."""

    def __init__(self, *names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name in self.names:
            raise ImportError(f"{name} is not imported for a fit")


def import_sherpa() -> None:
    """Imports the Sherpa a fit uses (data, models, statistics, optimisers, estimators, fit, the
    response), without what Sherpa's packages import for everyone else: a new session's first fit
    then costs ~0.1 s of imports instead of ~1 s.

    - sherpa.astro.instrument (Response1D) imports sherpa.astro.io, whose file backends import
      astropy.io.fits and astropy.table (~0.4 s), for reading files and images, which a fit of
      arrays never does: sherpa.astro.io is put in sys.modules with its module attributes
      (__file__, __path__, __spec__) and runs its own code when one of its names is first
      asked for (a module __getattr__). (Not importlib's LazyLoader: that loads on any
      attribute, and astropy's introspection looks at every module's __file__.)
    - sherpa.optmethods imports sherpa.optmethods.optscipy, which wraps scipy.optimize's
      optimisers (~0.5 s to import) as Scipy_* methods; a fit uses Sherpa's own levmar,
      neldermead and moncar, so scipy.optimize is refused while sherpa.optmethods is imported
      and the Scipy_* methods are absent from it in this session. (Where scipy.optimize is
      already imported, nothing is refused.)
    The modules a fit uses are Sherpa's own, unchanged: the numbers do not change."""
    if "sherpa.fit" in sys.modules:
        return
    if "sherpa.astro.io" not in sys.modules:
        _defer("sherpa.astro.io")
    if "sherpa.optmethods" not in sys.modules and "scipy.optimize" not in sys.modules:
        refuse = _Refuse("scipy.optimize")
        sys.meta_path.insert(0, refuse)
        try:
            import sherpa.optmethods  # noqa: F401
        finally:
            sys.meta_path.remove(refuse)


def _defer(name: str) -> None:
    """Puts the module `name` in sys.modules, to run its code when one of its names is first used."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)

    def load(attr):
        del module.__getattr__
        spec.loader.exec_module(module)
        return getattr(module, attr)

    module.__getattr__ = load
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


def sherpa_data(spec: Spectrum, index: int = 1):
    """A DataPHA with its background, ARF and RMF attached."""
    import_sherpa()
    from sherpa.astro.data import DataARF, DataPHA, DataRMF

    src = spec.source
    if spec.rmf is None:
        raise XmmError(f"{src.name}: no RMF (the spectrum names none and none was loaded)",
                       hint="load the response store: xmmdb load responses DIR", sqlstate="02000")

    def pha(p: Pha):
        return DataPHA(p.name, np.asarray(p.channel, float), np.asarray(p.counts, float),
                       quality=None if p.quality is None else np.asarray(p.quality, int),
                       exposure=p.exposure, backscal=p.backscal, areascal=p.areascal)

    data = pha(src)
    r = spec.rmf
    data.set_rmf(DataRMF(r.name, r.detchans, r.energ_lo, r.energ_hi, r.n_grp, r.f_chan, r.n_chan, r.matrix,
                         offset=r.offset, e_min=r.e_min, e_max=r.e_max))
    if spec.arf is not None:
        a = spec.arf
        data.set_arf(DataARF(a.name, a.energ_lo, a.energ_hi, a.specresp))
    if spec.background is not None:
        data.set_background(pha(spec.background))
    data.set_analysis("energy")
    return data


def group(data, src: Pha, how) -> None:
    """Groups the spectrum as XSPEC sees a grppha-grouped file.

    N > 0   grppha's `group min N`: from the first channel to the last, each group
            gathers consecutive channels until it holds at least N counts; a last group
            that cannot reach N is bad (QUALITY 2). Channels the file marks bad stay bad
            and out of every group.
    "file"  the file's own GROUPING and QUALITY columns.
    0       no grouping (the file's bad channels are still left out).
    Grouping comes before the energy filter, which then keeps or drops whole groups.
    """
    quality = np.zeros(len(src.counts), np.int16) if src.quality is None else np.asarray(src.quality, np.int16)
    if how == "file":
        if src.grouping is None:
            raise XmmError(f"{src.name}: the file has no GROUPING column to fit with",
                           hint='group it here instead, e.g. {"group": 20}')
        data.grouping = np.asarray(src.grouping, np.int16)
        data.quality = quality
        data.group()
    elif how > 0:
        data.group_counts(how, tabStops=quality != 0)
        data.quality = np.maximum(np.asarray(data.quality, np.int16), quality)   # the file's bad channels stay bad


def prepare(spec: Spectrum, opts: dict, stat: str):
    """The DataPHA grouped, filtered to the energy range, background-subtracted for chi2."""
    data = sherpa_data(spec)
    lo, hi = DEFAULT_RANGE.get(spec.instrument, (0.2, 12.0))
    emin = lo if opts["emin"] is None else opts["emin"]
    emax = hi if opts["emax"] is None else opts["emax"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group(data, spec.source, opts["group"])
        if data.quality is not None:
            data.ignore_bad()            # bad channels and incomplete groups
        data.notice(emin, emax)          # whole groups: any that reaches into emin..emax
    if stat.startswith("chi2") and data.background_ids:
        data.subtract()
    if not data.mask.any() if isinstance(data.mask, np.ndarray) else not data.mask:
        raise XmmError(f"{spec.source.name}: no channels in {emin:g}-{emax:g} keV",
                       hint="widen emin/emax")
    counts = float(np.sum(data.get_dep(filter=True)))
    total = float(np.sum(np.asarray(spec.source.counts)[data.get_noticed_channels().astype(int)
                                                        - int(spec.source.channel[0])]))
    if total <= 0:
        raise XmmError(f"{spec.source.name}: zero counts in {emin:g}-{emax:g} keV after filtering",
                       hint="nothing to fit; check the energy range or the spectrum")
    return data, (emin, emax), counts


def _statistic(name: str):
    from sherpa.stats import Chi2DataVar, Chi2Gehrels, Chi2XspecVar, CStat, WStat

    return {"chi2xspecvar": Chi2XspecVar, "chi2gehrels": Chi2Gehrels, "chi2datavar": Chi2DataVar,
            "cstat": CStat, "wstat": WStat}[name]()


def _method(name: str):
    import_sherpa()
    from sherpa.optmethods import LevMar, MonCar, NelderMead

    m = {"levmar": LevMar, "neldermead": NelderMead, "moncar": MonCar}[name]()
    if "numcores" in m.config:
        m.config["numcores"] = 1
    if name == "moncar":
        m.config["seed"] = 74815   # reproducible (and cacheable) results
    return m


def _estimator(name: str):
    from sherpa.estmethods import Confidence, Covariance

    est = Confidence() if name == "conf" else Covariance()
    for key, value in (("parallel", False), ("numcores", 1)):
        if key in est.config:
            est.config[key] = value   # no process pool inside a PostgreSQL backend
    return est


def fit(spectra: list[Spectrum], model: str, options: dict | None = None) -> dict:
    """Fits one spectrum or several jointly (same source model); returns the result row. The
    model is named in any case and spacing ('PHABS_PL ' is phabs_pl), as the fit cache keys it."""
    with quiet():
        return _fit(spectra, model.strip().lower() if isinstance(model, str) else model, options)


def _fit(spectra, model, options):
    import_sherpa()
    from sherpa.astro.instrument import Response1D
    from sherpa.data import DataSimulFit
    from sherpa.fit import Fit
    from sherpa.models.model import SimulFitModel

    t0 = time.perf_counter()
    opts = check_options(options)
    built = models.build(model)
    specs = _param_options(built, opts["params"] or {})
    stat_name = opts["stat"] or ("chi2xspecvar" if opts["group"] != 0 else
                                     "wstat" if all(s.background is not None for s in spectra) else "cstat")
    if stat_name == "wstat" and any(s.background is None for s in spectra):
        raise XmmError("options: stat wstat needs a background spectrum, and "
                       + ", ".join(s.source.name for s in spectra if s.background is None) + " has none")
    prepared = [prepare(s, opts, stat_name) for s in spectra]
    datas = [p[0] for p in prepared]
    folded = [Response1D(d)(built.model) for d in datas]
    _apply_params(specs)
    _initial_norms(built, datas, folded, specs)
    stat = _statistic(stat_name)
    if len(datas) == 1:
        f = Fit(datas[0], folded[0], stat=stat, method=_method(opts["method"]))
    else:
        f = Fit(DataSimulFit("joint", datas), SimulFitModel("joint", folded), stat=stat,
                method=_method(opts["method"]))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            res = f.fit()
        except Exception as exc:
            raise XmmError(f"the fit of {built.expression} failed: {exc}") from None
    thawed = [p for p in built.params() if not p.frozen]
    if res.dof <= 0:
        raise XmmError(f"{len(thawed)} free parameters but only {res.numpoints} bins: nothing left to fit",
                       hint="widen the energy range, lower group, or freeze parameters")
    covar, lower, upper = _errors(f, thawed, opts["errors"])
    fluxes = _fluxes(built, thawed, covar)
    qval = res.qval if stat_name.startswith("chi2") else None
    return {
        "model": model, "expression": built.expression,
        "instrument": "+".join(s.instrument for s in spectra),
        "statistic": stat_name, "stat": float(res.statval), "dof": int(res.dof),
        "rstat": float(res.rstat) if res.rstat is not None and stat_name.startswith("chi2") else None,
        "qval": None if qval is None else float(qval),
        "emin": prepared[0][1][0], "emax": prepared[0][1][1],
        "nbins": int(res.numpoints),
        "params": [{"name": p.fullname, "value": float(p.val),
                    "error_lo": lower.get(p.fullname), "error_hi": upper.get(p.fullname),
                    "frozen": bool(p.frozen), "min": float(p.min), "max": float(p.max),
                    "unit": p.units or None} for p in built.params()],
        **fluxes,
        "fit_time": time.perf_counter() - t0,
        "succeeded": bool(res.succeeded),
        "message": res.message,
        "counts": [p[2] for p in prepared],
        "_fit": (f, datas, folded, built),
    }


def _initial_norms(built, datas, folded, specs) -> None:
    """Scales the free norms so the model predicts the observed (net) counts."""
    norms = [c.norm for c in built.components if c.additive and not c.norm.frozen and c.norm not in specs]
    if not norms:
        return
    with np.errstate(all="ignore"):
        predicted = sum(float(np.sum(d.eval_model_to_fit(m))) for d, m in zip(datas, folded))
        observed = sum(float(np.sum(d.get_dep(filter=True))) for d in datas)
    ratio = observed / predicted if predicted > 0 else 0.0
    if math.isfinite(ratio) and ratio > 0:
        for n in norms:
            n.val = min(max(n.val * ratio / len(norms), n.min), n.max)


def _errors(f, thawed, method):
    """(covariance matrix of the thawed parameters or None, {name: lower}, {name: upper})."""
    lower, upper = {}, {}
    if not thawed:
        return None, lower, upper
    covar = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            f.estmethod = _estimator("covar")
            res = f.est_errors()
            covar = np.asarray(res.extra_output, float) if res.extra_output is not None else None
            if method == "conf":
                f.estmethod = _estimator("conf")
                res = f.est_errors()
        except Exception:
            return covar, lower, upper
    if method == "none":
        return covar, lower, upper
    for name, lo, hi in zip(res.parnames, res.parmins, res.parmaxes):
        lower[name] = None if lo is None or not np.isfinite(lo) else float(lo)
        upper[name] = None if hi is None or not np.isfinite(hi) else float(hi)
    return covar, lower, upper


def _fluxes(built, thawed, covar) -> dict:
    """Absorbed and unabsorbed 0.2-12 keV energy fluxes, with 1-sigma errors
    propagated from the parameter covariance (finite-difference gradient)."""
    out = {}
    for key, absorbed in (("flux", True), ("flux_unabs", False)):
        value = models.energy_flux(built, None, None, *FLUX_BAND, absorbed=absorbed)
        error = None
        if covar is not None and covar.shape == (len(thawed), len(thawed)):
            grad = np.zeros(len(thawed))
            for i, p in enumerate(thawed):
                v = p.val
                step = max(abs(v) * 1e-4, 1e-10)
                p._val = v + step
                try:
                    grad[i] = (models.energy_flux(built, None, None, *FLUX_BAND, absorbed=absorbed) - value) / step
                finally:
                    p._val = v
            var = float(grad @ covar @ grad)
            error = math.sqrt(var) if math.isfinite(var) and var >= 0 else None
        out[key], out[key + "_err"] = value, error
    return out
