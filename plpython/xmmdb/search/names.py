"""Positions from names or coordinates, offline first (`xmm_resolve`).

Order: coordinates written out (`10.68 41.27`, `00h42m44.3s +41d16m09s`,
`00:42:44.3 +41:16:09`, `00 42 44.3 +41 16 09`: read here, no lookup); a name in the
database's tables, looked up in SQL by
`xmm.named_position()` (OpenNGC's NGC/IC, Messier, common names and
cross-identifiers, the name cache, the catalogue's IAU names, the observation
targets; compared by `xmm.name_key()`, so `M 31`, `m31`, `Messier 31`,
`NGC224` and `NGC 0224` are one name); and only when `SET xmm.sesame = on`, CDS Sesame over the network (its
answers are cached).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import XmmError
from ..sqlsafe import query, where

DEFAULT_RADIUS_DEG = 10.0 / 60.0
MAX_NAME_LENGTH = 256          # the longest name or written-out position the resolver reads
SESAME_URL = "https://cds.unistra.fr/cgi-bin/nph-sesame/-oI/SNV?"


@dataclass(frozen=True)
class Position:
    name: str
    ra: float
    dec: float
    origin: str

    def row(self) -> dict:
        return {"name": self.name, "ra": self.ra, "dec": self.dec, "origin": self.origin}


# ---------------------------------------------------------------- coordinates

_NUM = r"\d+(?:\.\d*)?|\.\d+"
_DEG_PAIR = re.compile(rf"\s*({_NUM})\s*(?:d|deg|°)?\s*[,\s]\s*([+-]?\s*(?:{_NUM}))\s*(?:d|deg|°)?\s*", re.I)
_SEXA = re.compile(
    rf"\s*(\d{{1,2}})\s*[h:\s]\s*(\d{{1,2}})\s*(?:[m:\s]\s*({_NUM})?\s*s?)?\s*,?"
    rf"\s*([+-]?)\s*(\d{{1,2}})\s*[d°:\s]\s*(\d{{1,2}})\s*(?:['′m:\s]\s*({_NUM})?\s*[\"″s]?)?\s*", re.I)


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """(ra, dec) in degrees if `text` is a position written out, else None.
    Raises XmmError for coordinates out of range.

    The patterns above have optional spaces side by side; on a long run of
    spaces they could try every way of sharing it out (hours for a thousand
    spaces). Each run of white space becomes one space first, so they try a
    bounded number of ways at each position: linear time."""
    text = " ".join(text.split())
    m = _DEG_PAIR.fullmatch(text)
    if m:
        ra, dec = float(m.group(1)), float(m.group(2).replace(" ", ""))
    else:
        m = _SEXA.fullmatch(text)
        if not m:
            return None
        h, mi, s, sign, d, dm, ds = m.groups()
        if int(mi) >= 60 or float(s or 0) >= 60 or int(dm) >= 60 or float(ds or 0) >= 60 or int(h) >= 24:
            raise XmmError(f"'{text.strip()}' is not a valid position: minutes and seconds must be below 60, hours below 24")
        ra = 15.0 * (int(h) + int(mi) / 60.0 + float(s or 0) / 3600.0)
        dec = (-1 if sign == "-" else 1) * (int(d) + int(dm) / 60.0 + float(ds or 0) / 3600.0)
    if not (0 <= ra < 360 and -90 <= dec <= 90):
        raise XmmError(f"'{text.strip()}' is not on the sky: RA must be in [0, 360) and Dec in [-90, 90] degrees")
    return ra, dec


_RADIUS = re.compile(r"\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)\s*"
                     r"(deg|degrees?|d|°|arcmin|amin|'|′|arcsec|asec|\"|″)\s*", re.I)
_UNITS = {"deg": 1.0, "degree": 1.0, "degrees": 1.0, "d": 1.0, "°": 1.0, "arcmin": 1 / 60.0, "amin": 1 / 60.0,
          "'": 1 / 60.0, "′": 1 / 60.0, "arcsec": 1 / 3600.0, "asec": 1 / 3600.0, '"': 1 / 3600.0, "″": 1 / 3600.0}


def parse_radius(text: str, column: int | None = None) -> float:
    """'1deg', '10arcmin', "2'", '30arcsec', '30″' -> degrees."""
    m = _RADIUS.fullmatch(" ".join(text.split()))
    where = f" at column {column}" if column else ""
    if not m:
        raise XmmError(f"'{text.strip()}'{where} is not a radius",
                       hint="give a number and a unit: deg or d, arcmin or ', arcsec or ″ (e.g. '10arcmin')")
    deg = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not (0 < deg <= 180) or not math.isfinite(deg):
        raise XmmError(f"the radius '{text.strip()}'{where} must be above 0 and at most 180 degrees")
    return deg


# ---------------------------------------------------------------- names

class Resolver:
    """Name -> Position through the database `db` (xmmdb.pg.Spi or Psycopg)."""

    def __init__(self, db, online: bool | None = None):
        self.db = db
        self.online = online
        self.memo: dict[str, Position | None] = {}   # per resolver: one call of xmm_search, or one test run

    def resolve(self, text: str) -> Position | None:
        if text not in self.memo:
            self.memo[text] = self._resolve(text)
        return self.memo[text]

    def _resolve(self, text: str) -> Position | None:
        text = text.strip()
        if not text or "\x00" in text:
            return None
        if len(text) > MAX_NAME_LENGTH:
            raise XmmError(f"a name or position is at most {MAX_NAME_LENGTH} characters long, "
                           f"not {len(text)}", sqlstate="22023")
        # a position written out needs no lookup (a cone's usual argument: one query fewer)
        return self._coordinates(text) or self._named(text) or self._sesame(text)

    def position(self, text: str, column: int | None = None) -> Position:
        """Like resolve, but a name that cannot be resolved is an error for humans."""
        found = self.resolve(text)
        if found is None:
            raise XmmError(f"cannot resolve name '{text.strip()}'", sqlstate="22023", hint=where(column,
                           "names are resolved offline from OpenNGC (NGC, IC, Messier and common names), "
                                "the catalogue's IAU names and the observation targets; give coordinates instead, "
                                "e.g. cone('10.68 41.27', '10arcmin')"))
        return found

    def _named(self, text):
        rows = query(self.db, "SELECT * FROM xmm.named_position($1)", (text,), ("text",))
        return Position(rows[0]["name"], rows[0]["ra"], rows[0]["dec"], rows[0]["origin"]) if rows else None

    @staticmethod
    def _coordinates(text):
        coords = parse_coordinates(text)
        return Position(text, coords[0], coords[1], "coordinates") if coords else None

    def _online_enabled(self) -> bool:
        if self.online is not None:
            return self.online
        rows = self.db.query("SELECT current_setting('xmm.sesame', true) AS on")
        return bool(rows) and (rows[0]["on"] or "").lower() in ("on", "true", "1", "yes")

    def _sesame(self, text):
        if not self._online_enabled():
            return None
        found = sesame(text)
        if found:
            self.db.query("INSERT INTO xmm.name_cache (key, name, ra, dec, origin) "
                          "VALUES (xmm.name_key($1), $2, $3, $4, 'CDS Sesame') ON CONFLICT (key) DO NOTHING",
                          (text, found.name, found.ra, found.dec), ("text", "text", "float8", "float8"))
        return found


def sesame(name: str, timeout: float = 3.0) -> Position | None:
    """CDS Sesame (Simbad, NED, VizieR); None when it does not know the name or
    the network does not answer in `timeout` seconds."""
    import urllib.parse
    import urllib.request

    try:
        with urllib.request.urlopen(SESAME_URL + urllib.parse.quote(name), timeout=timeout) as f:
            text = f.read(65536).decode("utf-8", "replace")
    except Exception:  # offline, DNS, timeout, HTTP error: the resolver is optional
        return None
    m = re.search(r"^%J\s+([0-9.+-]+)\s+([0-9.+-]+)", text, re.M)
    if not m:
        return None
    ra, dec = float(m.group(1)), float(m.group(2))
    return Position(name, ra, dec, "CDS Sesame") if 0 <= ra < 360 and -90 <= dec <= 90 else None


def resolve_rows(db, name: str) -> list[dict]:
    """Rows of xmm_resolve(name): one row, or none if the name is unknown."""
    found = Resolver(db).resolve(name or "")
    return [found.row()] if found else []
