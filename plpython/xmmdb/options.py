"""The `options jsonb` of the photon and timing functions: known keys, checked types, declared bounds."""

from __future__ import annotations

import json
import math

from .errors import XmmError

NUMBER = "number"
POSITIVE = "positive number"
NONNEGATIVE = "number not below 0"
INTEGER = "positive integer"
BOOL = "boolean"
TEXT = "text"
FRACTION = "number between 0 and 1"
CHECKED_IN_SQL = "value"   # passed on as it is: SQL checks it (the event selection, xmm.event_rule)


def _ok(kind: str, value) -> bool:
    if kind == CHECKED_IN_SQL:
        return True
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str) and value != ""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if kind == POSITIVE:
        return value > 0
    if kind == NONNEGATIVE:
        return value >= 0
    if kind == INTEGER:
        return float(value).is_integer() and value >= 1
    if kind == FRACTION:
        return 0 <= value <= 1
    return True


def parse(options, spec: dict[str, tuple], function: str) -> dict:
    """Check `options` (a JSON object, as text or dict) against spec
    {key: (kind, default[, upper bound])} and return every key with its value or default.
    A number over its declared bound is an error that states the bound."""
    if options is None or options == "":
        given = {}
    elif isinstance(options, dict):
        given = options
    else:
        try:
            given = json.loads(options)
        except (TypeError, ValueError) as exc:
            raise XmmError(f"{function}: options are not valid JSON ({exc})") from exc
    if not isinstance(given, dict):
        raise XmmError(f"{function}: options must be a JSON object such as '{{\"obs_id\": \"0123456789\"}}'")
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise XmmError(f"{function}: unknown option {', '.join(repr(k) for k in unknown)}",
                       hint="known options: " + ", ".join(f"{k} ({v[0]})" for k, v in spec.items()))
    out = {}
    for key, (kind, default, *bound) in spec.items():
        value = given.get(key, default)
        if key in given and value is not None and not _ok(kind, value):
            raise XmmError(f"{function}: option {key!r} must be a {kind}, not {json.dumps(value)}")
        if key in given and value is not None and bound and value > bound[0]:
            raise XmmError(f"{function}: option {key!r} is {value:g}; it may be at most {bound[0]:g}",
                           sqlstate="54000")
        out[key] = int(value) if kind == INTEGER and value is not None else value
    return out
