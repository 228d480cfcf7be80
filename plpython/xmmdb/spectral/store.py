"""Spectra and responses from the database, and the SQL entry points.

`db` is `xmmdb.pg.Spi` inside the server (plpy) or `xmmdb.pg.Psycopg` outside
it: the same queries either way. Responses are immutable per response_id (a
new content is a new row), so a backend keeps the last few it built.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from ..errors import NotFound, XmmError
from ..instruments import CAMERAS
from .fit import Pha, Spectrum, check_options, fit
from .responses import response

SPECTRUM_COLUMNS = ("spectrum_id, file, obs_id, kind, instrument, detid, exposure, backscal, areascal, "
                    "channel_first, counts, quality, grouping, total_counts, backfile, respfile, ancrfile, background_id, "
                    "rmf_id, arf_id")


def _pha(row) -> Pha:
    channel = np.arange(len(row["counts"])) + int(row["channel_first"])
    quality = None if row["quality"] is None else np.asarray(row["quality"], int)
    grouping = None if row["grouping"] is None else np.asarray(row["grouping"], int)
    return Pha(row["file"], channel, np.asarray(row["counts"], float), float(row["exposure"]),
               float(row["backscal"]), float(row["areascal"]), quality, grouping)


def detection_spectra(db, detid: int, instrument: str, choice=None) -> tuple[dict, list[Spectrum]]:
    """(detection row, [Spectrum]) for one detection and instrument ('EPIC': each camera's best);
    `choice` (a file name or spectrum_id) picks one spectrum among several of a camera."""
    det = db.query("SELECT detid, srcid, obs_id FROM xmm.detection WHERE detid = $1", (detid,), ("bigint",))
    if not det:
        raise NotFound(f"detection {detid} does not exist")
    rows = db.query(f"SELECT {SPECTRUM_COLUMNS} FROM xmm.spectrum WHERE detid = $1 AND kind = 'source' "
                    "ORDER BY instrument, total_counts DESC, spectrum_id", (detid,), ("bigint",))
    if choice is not None:
        picked = [r for r in rows if choice in (r["file"], r["spectrum_id"])]
        if not picked:
            raise NotFound(f"options: spectrum {choice!r} is not a source spectrum of detection {detid}",
                           hint="its spectra: " + (", ".join(f"{r['file']} ({r['spectrum_id']})" for r in rows)
                                                   or "none"))
        rows = picked + [r for r in rows if r["instrument"] != picked[0]["instrument"]]
    best = {}
    for r in rows:
        best.setdefault(r["instrument"], r)
    wanted = CAMERAS if instrument == "EPIC" else (instrument,)
    chosen = [best[i] for i in wanted if i in best]
    if not chosen:
        have = ", ".join(best) or "none"
        raise NotFound(f"detection {detid} (obs {det[0]['obs_id']}) has no {instrument} spectrum "
                       f"(spectra loaded for it: {have})",
                       hint="load its pipeline spectra: xmmdb load products FILE...")
    return det[0], [spectrum(db, r) for r in chosen]


def spectrum(db, r: dict) -> Spectrum:
    """A source spectrum row with its background and responses, ready to fit."""
    background = None
    if r["background_id"] is not None:
        b = db.query(f"SELECT {SPECTRUM_COLUMNS} FROM xmm.spectrum WHERE spectrum_id = $1",
                     (r["background_id"],), ("bigint",))
        background = _pha(b[0])
    elif r["backfile"]:
        raise XmmError(f"{r['file']}: background spectrum {r['backfile']} (BACKFILE) was not loaded",
                       hint="load it with the spectrum: xmmdb load products FILE --bkg BACKGROUND",
                       sqlstate="02000")
    if r["arf_id"] is None and r["ancrfile"]:
        raise XmmError(f"{r['file']}: ARF {r['ancrfile']} (ANCRFILE) was not loaded",
                       hint="load it with the spectrum: xmmdb load products FILE --arf ARF", sqlstate="02000")
    if r["rmf_id"] is None:
        raise XmmError(f"{r['file']}: RMF {r['respfile'] or '(none named)'} (RESPFILE) is not in the response store",
                       hint="xmmdb load responses DIR, or reload the spectrum with --rmf RMF", sqlstate="02000")
    return Spectrum(_pha(r), r["instrument"], response(db, r["rmf_id"]),
                    None if r["arf_id"] is None else response(db, r["arf_id"]), background,
                    {"spectrum_id": r["spectrum_id"]})


HINT = "see docs/spectral.md for models and options"
RESULT_KEYS = ("instrument", "model", "expression", "statistic", "stat", "dof", "rstat", "qval", "emin", "emax",
               "nbins", "flux", "flux_err", "flux_unabs", "flux_unabs_err", "fit_time", "succeeded")


def fit_detection(db, detid: int, instrument: str, model: str, options) -> tuple[dict, list, dict]:
    try:
        options = check_options(options)
        det, spectra = detection_spectra(db, detid, instrument, options.get("spectrum"))
        return det, spectra, fit(spectra, model, options)
    except XmmError as exc:
        if exc.hint is None:
            exc.hint = HINT
        raise


def fit_detection_row(db, detid: int, instrument: str, model: str, options) -> dict:
    """The xmm.fit_result row of a fit (xmm.fit_compute)."""
    det, spectra, res = fit_detection(db, detid, instrument, model, options)
    row = {k: res[k] for k in RESULT_KEYS}
    row.update(srcid=det["srcid"], detid=det["detid"], obs_id=det["obs_id"], params=json.dumps(res["params"]),
               spectrum_ids=[s.extra["spectrum_id"] for s in spectra], cached=False, fitted_at=None)
    return row


def fit_detection_png(db, detid: int, instrument: str, model: str, options) -> bytes:
    from .plot import png

    det, spectra, res = fit_detection(db, detid, instrument, model, options)
    return png(res, title=f"detection {det['detid']} (source {det['srcid']}, obs {det['obs_id']})")


def stored_spectrum(db, spectrum_id: int) -> tuple[dict, Spectrum]:
    """(its row, Spectrum) for any stored source spectrum, linked to a detection or not."""
    rows = db.query(f"SELECT {SPECTRUM_COLUMNS} FROM xmm.spectrum WHERE spectrum_id = $1",
                    (spectrum_id,), ("bigint",))
    if not rows:
        raise NotFound(f"spectrum {spectrum_id} does not exist", hint="find yours in xmm.spectrum (file, obs_id, ra, dec)")
    r = rows[0]
    if r["kind"] != "source":
        raise XmmError(f"spectrum {spectrum_id} ({r['file']}) is a background spectrum",
                       hint="fit the source spectrum it belongs to", sqlstate="22023")
    return r, spectrum(db, r)


def fit_spectrum(db, spectrum_id: int, model: str, options) -> tuple[dict, Spectrum, dict]:
    try:
        options = check_options(options)
        if options["spectrum"] is not None:
            raise XmmError("fit options: spectrum chooses among a detection's spectra; here the spectrum is given")
        row, spec = stored_spectrum(db, spectrum_id)
        return row, spec, fit([spec], model, options)
    except XmmError as exc:
        if exc.hint is None:
            exc.hint = HINT
        raise


def fit_spectrum_row(db, spectrum_id: int, model: str, options) -> dict:
    """The xmm.fit_result row of a fit of one stored spectrum (xmm_fit_spectrum)."""
    row, spec, res = fit_spectrum(db, spectrum_id, model, options)
    det = db.query("SELECT srcid FROM xmm.detection WHERE detid = $1", (row["detid"],), ("bigint",)) \
        if row["detid"] is not None else []
    out = {k: res[k] for k in RESULT_KEYS}
    out.update(srcid=det[0]["srcid"] if det else None, detid=row["detid"], obs_id=row["obs_id"] or None,
               params=json.dumps(res["params"]), spectrum_ids=[spectrum_id], cached=False,
               fitted_at=datetime.now(timezone.utc).isoformat())
    return out


def fit_spectrum_png(db, spectrum_id: int, model: str, options) -> bytes:
    from .plot import png

    row, spec, res = fit_spectrum(db, spectrum_id, model, options)
    return png(res, title=f"spectrum {spectrum_id}: {row['file']}" + (f" (obs {row['obs_id']})" if row["obs_id"] else ""))
