"""Responses of the store (xmm.response) as arrays, without Sherpa: the fitting
reads them, and so do the flux conversions of upper limits, which must not pay
for importing Sherpa.

    Rmf   an RMF in Sherpa's DataRMF layout (compressed rows: n_grp, f_chan, n_chan, matrix)
    Arf   an ARF (effective area, cm2, on the energy grid energ_lo..energ_hi keV)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import NotFound

_RESPONSES: OrderedDict = OrderedDict()
_KEEP = 8


@dataclass
class Rmf:
    name: str
    detchans: int
    offset: int
    energ_lo: np.ndarray
    energ_hi: np.ndarray
    n_grp: np.ndarray
    f_chan: np.ndarray
    n_chan: np.ndarray
    matrix: np.ndarray
    e_min: np.ndarray
    e_max: np.ndarray


@dataclass
class Arf:
    name: str
    energ_lo: np.ndarray
    energ_hi: np.ndarray
    specresp: np.ndarray



def fold(rmf: Rmf, arf: Arf | None, photons) -> np.ndarray:
    """Expected counts per channel (detchans,) of `photons` (photons/cm2/s in each bin
    energ_lo..energ_hi of the RMF's grid): the area of the ARF, then the redistribution."""
    flux = np.asarray(photons, float) * (1.0 if arf is None else arf.specresp)
    out = np.zeros(rmf.detchans)
    k = 0       # index of the group, over all energies
    m = 0       # index into matrix
    for i, groups in enumerate(rmf.n_grp):
        for _ in range(int(groups)):
            first, n = int(rmf.f_chan[k]) - rmf.offset, int(rmf.n_chan[k])
            out[first:first + n] += flux[i] * rmf.matrix[m:m + n]
            m += n
            k += 1
    return out


def response(db, response_id: int):
    """The Rmf or Arf of a response row (kept per backend)."""
    if response_id in _RESPONSES:
        _RESPONSES.move_to_end(response_id)
        return _RESPONSES[response_id]
    rows = db.query("SELECT * FROM xmm.response WHERE response_id = $1", (response_id,), ("bigint",))
    if not rows:
        raise NotFound(f"response {response_id} does not exist")
    r = rows[0]
    name = r["name"]
    if r["kind"] == "arf":
        obj = Arf(name, np.asarray(r["energ_lo"], float), np.asarray(r["energ_hi"], float),
                  np.asarray(r["specresp"], float))
    else:
        vec = lambda b, t: np.frombuffer(bytes(b), dtype=t)  # noqa: E731
        obj = Rmf(name, int(r["detchans"]), int(r["chan_offset"]), np.asarray(r["energ_lo"], float),
                  np.asarray(r["energ_hi"], float), vec(r["n_grp"], "<i4").astype(np.int64),
                  vec(r["f_chan"], "<i4").astype(np.int64), vec(r["n_chan"], "<i4").astype(np.int64),
                  vec(r["matrix"], "<f4").astype(np.float64),
                  np.asarray(r["e_min"], float), np.asarray(r["e_max"], float))
    _RESPONSES[response_id] = obj
    while len(_RESPONSES) > _KEEP:
        _RESPONSES.popitem(last=False)
    return obj
