"""XSPEC-definition spectral components as Sherpa models, and model expressions.

XSPEC is not available, so the components are written here with XSPEC's
definitions, parameter names and units, so fitted numbers compare with the
literature:

    powerlaw  PhoIndex, norm   photons/keV/cm2/s at 1 keV, integrated over each bin
    bbody     kT [keV], norm   L39 / D10^2 (luminosity 1e39 erg/s, distance 10 kpc)
    diskbb    Tin [keV], norm  (Rin/km / (D/10 kpc))^2 cos i  (multicolour disc, Mitsuda et al. 1984)
    bremss    kT [keV], norm   3.02e-15 / (4 pi D^2) * integral(ne nH dV)
    phabs, tbabs, wabs  nH [1e22 cm^-2]: photoelectric absorption, exp(-nH sigma(E))

The absorbers read tabulated cross-sections per H atom (data/xsect_*.fits,
vendored from astromodels 2.6.0 with its licence; Verner et al. 1996 with
Anders & Grevesse 1989 abundances, Wilms et al. 2000, Morrison & McCammon 1983)
and, like XSPEC, average sigma over the two edges of each energy bin and leave
the transmission at 1 outside 0.0136-100 keV.

`build(expression)` turns `phabs*(powerlaw+bbody)` or a named model (`phabs_pl`)
into a Sherpa model; repeated components are numbered (`wabs_1`, `wabs_2`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
from sherpa.models.model import ArithmeticModel, modelCacher1d
from sherpa.models.parameter import Parameter

from ..errors import XmmError
from .absorption import ABS_RANGE, cross_section, sigma  # noqa: F401  (the absorbers' tables)

KEV_TO_ERG = 1.602176634e-9

NAMED = {
    "phabs_pl": "phabs*powerlaw",
    "phabs_bb": "phabs*bbody",
    "phabs_diskbb": "phabs*diskbb",
    "phabs_brems": "phabs*bremss",
    "phabs_pl_bb": "phabs*(powerlaw+bbody)",
    "tbabs_pl": "tbabs*powerlaw",
    "wabs_pl": "wabs*powerlaw",
}


def _edges(xlo, xhi):
    xlo = np.asarray(xlo, float)
    return xlo, (None if xhi is None else np.asarray(xhi, float))


class XSComponent(ArithmeticModel):
    """A component with XSPEC's name, parameters and bin-integrated evaluation."""

    xspec_name = ""
    additive = True

    def __init__(self, name: str, pars):
        super().__init__(name, pars)


class Absorber(XSComponent):
    """exp(-nH sigma): sigma averaged over each bin's two edges, as XSPEC does."""

    table = ""
    additive = False

    def __init__(self, name: str | None = None):
        name = name or self.xspec_name
        self.nH = Parameter(name, "nH", 0.1, min=0.0, max=1e5, hard_min=0.0, hard_max=1e6, units="10^22 atoms / cm^2")
        super().__init__(name, (self.nH,))

    @modelCacher1d
    def calc(self, p, xlo, xhi=None, *args, **kwargs):
        xlo, xhi = _edges(xlo, xhi)
        s = sigma(self.table, xlo) if xhi is None else 0.5 * (sigma(self.table, xlo) + sigma(self.table, xhi))
        return np.exp(-p[0] * s)


class PhAbs(Absorber):
    xspec_name, table = "phabs", "phabs_angr"


class TbAbs(Absorber):
    xspec_name, table = "tbabs", "tbabs_wilm"


class WAbs(Absorber):
    xspec_name, table = "wabs", "wabs_angr"


class PowerLaw(XSComponent):
    """N(E) = norm E^-PhoIndex, integrated analytically over each bin."""

    xspec_name = "powerlaw"

    def __init__(self, name: str | None = None):
        name = name or self.xspec_name
        self.PhoIndex = Parameter(name, "PhoIndex", 2.0, min=-2.0, max=9.0, hard_min=-3.0, hard_max=10.0)
        self.norm = Parameter(name, "norm", 1e-3, min=0.0, max=1e24, hard_min=0.0, hard_max=1e24)
        super().__init__(name, (self.PhoIndex, self.norm))

    @modelCacher1d
    def calc(self, p, xlo, xhi=None, *args, **kwargs):
        gamma, norm = p
        xlo, xhi = _edges(xlo, xhi)
        if xhi is None:
            return norm * xlo ** -gamma
        if abs(1.0 - gamma) < 1e-10:
            return norm * np.log(xhi / xlo)
        return norm * (xhi ** (1.0 - gamma) - xlo ** (1.0 - gamma)) / (1.0 - gamma)


def _simpson(func, xlo, xhi, n: int = 4):
    """Composite Simpson integral of func over each bin [xlo, xhi] with n (even) intervals."""
    t = np.linspace(0.0, 1.0, n + 1)
    w = np.ones(n + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    x = xlo[:, None] + (xhi - xlo)[:, None] * t[None, :]
    return (func(x) * w[None, :]).sum(axis=1) * (xhi - xlo) / (3.0 * n)


class Thermal(XSComponent):
    """An additive component with a temperature and a norm, N(E) = density(E, T, norm),
    integrated over each bin with Simpson's rule."""

    temperature = ("kT", 1.0, 1e-2, 100.0, 1e-4, 200.0)   # name, default, soft min/max, hard min/max
    norm_default = 1.0

    def __init__(self, name: str | None = None):
        name = name or self.xspec_name
        tname, default, lo, hi, hard_lo, hard_hi = self.temperature
        temp = Parameter(name, tname, default, min=lo, max=hi, hard_min=hard_lo, hard_max=hard_hi, units="keV")
        setattr(self, tname, temp)
        self.norm = Parameter(name, "norm", self.norm_default, min=0.0, max=1e24, hard_min=0.0, hard_max=1e24)
        super().__init__(name, (temp, self.norm))

    @staticmethod
    def density(energy, temperature, norm):
        raise NotImplementedError

    @modelCacher1d
    def calc(self, p, xlo, xhi=None, *args, **kwargs):
        temperature, norm = p
        xlo, xhi = _edges(xlo, xhi)
        if xhi is None:
            return self.density(xlo, temperature, norm)
        return _simpson(lambda e: self.density(e, temperature, norm), xlo, xhi)


class BBody(Thermal):
    """N(E) = norm 8.0525 E^2 / (kT^4 (exp(E/kT) - 1)), norm = L39 / D10^2."""

    xspec_name = "bbody"
    norm_default = 1e-5

    @staticmethod
    def density(energy, kt, norm):
        u = np.clip(energy / kt, 1e-12, 700.0)
        return norm * 8.0525 * energy ** 2 / (kt ** 4 * np.expm1(u))


@functools.lru_cache(maxsize=1)
def _disk_integral():
    """g(a) = int_1^inf t^(5/3) / (exp(a t) - 1) dt on a log grid of a (the
    radial integral of the multicolour disc with T ~ r^-3/4, t = Tin / T)."""
    from scipy.integrate import quad

    # with s = a t: g(a) = a^(-8/3) int_a^inf s^(5/3) / (exp(s) - 1) ds, a smooth finite integral
    a = np.geomspace(1e-5, 200.0, 600)
    f = lambda s: s ** (5 / 3) / np.expm1(s) if s > 0 else 0.0  # noqa: E731
    g = np.array([quad(f, x, x + 120.0, limit=200, epsabs=0, epsrel=1e-10)[0] for x in a]) * a ** (-8 / 3)
    return np.log(a), np.log(np.maximum(g, 1e-300))


class DiskBB(Thermal):
    """Multicolour disc: N(E) = norm 2.7681e-3 E^2 g(E/Tin), with
    g(a) = int_1^inf t^(5/3)/(exp(a t)-1) dt; norm = (Rin/km / (D/10 kpc))^2 cos i.
    The constant is (8 pi / 3) * 2 / (h^3 c^2) * (1 km / 10 kpc)^2 in keV, cm, s."""

    xspec_name = "diskbb"
    temperature = ("Tin", 1.0, 1e-2, 100.0, 0.0, 1000.0)

    @staticmethod
    def density(energy, tin, norm):
        loga, logg = _disk_integral()
        a = np.log(np.clip(energy / max(tin, 1e-6), 1e-5, None))
        g = np.exp(np.interp(a, loga, logg, right=-np.inf))
        big = energy / max(tin, 1e-6) > 200.0
        return np.where(big, 0.0, norm * 2.7681e-3 * energy ** 2 * g)


class Bremss(Thermal):
    """Thermal bremsstrahlung: N(E) = norm g(E, kT) exp(-E/kT) / (E sqrt(kT)),
    norm = 3.02e-15/(4 pi D^2) int ne nH dV, with the Born-approximation Gaunt
    factor g = (sqrt 3 / pi) exp(u/2) K0(u/2), u = E/kT (XSPEC uses the
    Kellogg et al. 1975 fit, within a few per cent of it at X-ray temperatures)."""

    xspec_name = "bremss"
    temperature = ("kT", 7.0, 1e-2, 200.0, 1e-4, 200.0)
    norm_default = 1e-3

    @staticmethod
    def density(energy, kt, norm):
        from scipy.special import k0e

        u = np.clip(energy / kt, 1e-12, None)
        gaunt = np.sqrt(3.0) / np.pi * k0e(u / 2.0)
        return norm * gaunt * np.exp(-u) / (energy * np.sqrt(kt))


COMPONENTS = {c.xspec_name: c for c in (PhAbs, TbAbs, WAbs, PowerLaw, BBody, DiskBB, Bremss)}


@dataclass
class Built:
    expression: str          # the canonical expression, e.g. phabs*(powerlaw+bbody)
    model: object            # the Sherpa model (source, before the response)
    components: list         # component instances in order of appearance

    def absorbers(self):
        return [c for c in self.components if not c.additive]

    def params(self):
        return [p for c in self.components for p in c.pars]


_TOKEN = re.compile(r"\s*(?:([A-Za-z][A-Za-z0-9_]*)|(.))")


def _tokens(text: str):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        if m.group(1):
            out.append(("name", m.group(1), m.start(1)))
        elif m.group(2) and not m.group(2).isspace():
            out.append(("op", m.group(2), m.start(2)))
        pos = m.end()
    return out


# Bounds of a model expression: what a spectrum can constrain is far below them.
MAX_MODEL_LENGTH = 200
MAX_COMPONENTS = 8
MAX_NESTING = 4


def build(model: str) -> Built:
    """A Sherpa model from a named model or an expression over XSPEC components."""
    if not isinstance(model, str) or not model.strip():
        raise XmmError("model: empty model name", hint="named models: " + ", ".join(NAMED))
    if len(model) > MAX_MODEL_LENGTH:
        raise XmmError(f"model: {len(model):,} characters; a model expression has at most {MAX_MODEL_LENGTH}",
                       sqlstate="54000")
    text = NAMED.get(model.strip().lower(), model.strip())
    tokens = _tokens(text)
    n_components = sum(1 for t in tokens if t[0] == "name")
    depth = deepest = 0
    for _, value, _ in tokens:
        depth += (value == "(") - (value == ")")
        deepest = max(deepest, depth)
    if n_components > MAX_COMPONENTS or deepest > MAX_NESTING:
        raise XmmError(f"model {model!r}: {n_components} components nested {deepest} deep; a model has at most "
                       f"{MAX_COMPONENTS} components nested at most {MAX_NESTING} deep", sqlstate="54000")
    names = [t[1].lower() for t in tokens if t[0] == "name"]
    for kind, value, pos in tokens:
        if kind == "name" and value.lower() not in COMPONENTS:
            raise XmmError(f"model {model!r}: unknown component or model {value!r} at position {pos + 1}",
                           hint=f"named models: {', '.join(NAMED)}; components: {', '.join(COMPONENTS)}")
        if kind == "op" and value not in "*+()":
            raise XmmError(f"model {model!r}: unexpected {value!r} at position {pos + 1}",
                           hint="combine components with * (multiply), + (add) and parentheses")
    counts = {n: names.count(n) for n in names}
    seen: dict[str, int] = {}
    components = []
    i = 0

    def fail(what):
        pos = tokens[i][2] + 1 if i < len(tokens) else len(text) + 1
        raise XmmError(f"model {model!r}: {what} at position {pos}",
                       hint="e.g. phabs*(powerlaw+bbody)")

    def atom():
        nonlocal i
        if i >= len(tokens):
            fail("expression ends early")
        kind, value, _ = tokens[i]
        if kind == "name":
            i += 1
            key = value.lower()
            seen[key] = seen.get(key, 0) + 1
            comp = COMPONENTS[key](key if counts[key] == 1 else f"{key}_{seen[key]}")
            components.append(comp)
            return comp, f"{key}", comp.additive
        if value == "(":
            i += 1
            m, s, add = expr()
            if i >= len(tokens) or tokens[i][1] != ")":
                fail("missing )")
            i += 1
            return m, f"({s})", add
        fail(f"unexpected {value!r}")

    def term():
        nonlocal i
        m, s, add = atom()
        while i < len(tokens) and tokens[i][1] == "*":
            i += 1
            m2, s2, add2 = atom()
            m, s, add = m * m2, f"{s}*{s2}", add or add2
        return m, s, add

    def expr():
        nonlocal i
        m, s, add = term()
        while i < len(tokens) and tokens[i][1] == "+":
            i += 1
            m2, s2, add2 = term()
            if not (add and add2):
                fail("only additive components (powerlaw, bbody, diskbb, bremss) can be added")
            m, s = m + m2, f"{s}+{s2}"
        return m, s, add

    m, s, add = expr()
    if i < len(tokens):
        fail(f"unexpected {tokens[i][1]!r}")
    if not add:
        raise XmmError(f"model {model!r}: no additive component (only absorption)",
                       hint="multiply the absorbers with an emission component, e.g. phabs*powerlaw")
    return Built(s, m, components)


def energy_flux(built: Built, elo: np.ndarray, ehi: np.ndarray, lo: float = 0.2, hi: float = 12.0,
                absorbed: bool = True) -> float:
    """Energy flux (erg/cm2/s) of the source model between lo and hi keV on a fine grid;
    unabsorbed: with every absorber's nH set to 0."""
    grid = np.geomspace(lo, hi, 1201)
    glo, ghi = grid[:-1], grid[1:]
    saved = [(a.nH, a.nH.val) for a in built.absorbers()] if not absorbed else []
    try:
        for par, _ in saved:
            par._val = 0.0   # bypass limits/frozen checks; restored below
        photons = np.asarray(built.model(glo, ghi), float)
    finally:
        for par, val in saved:
            par._val = val
    return float(np.sum(photons * 0.5 * (glo + ghi)) * KEV_TO_ERG)
