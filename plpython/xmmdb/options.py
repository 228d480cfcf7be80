"""The `options jsonb` of every function that takes one: known keys, checked types, declared bounds.

A function declares its options once, as {key: (kind, default[, upper bound])}; a kind is one
of the names below or a tuple of the words allowed (matched without regard to case)."""

from __future__ import annotations

import json
import math

from .errors import XmmError
from .instruments import camera

NUMBER = "number"
POSITIVE = "positive number"
NONNEGATIVE = "number not below 0"
INTEGER = "positive integer"
BOOL = "boolean"
TEXT = "text"
FRACTION = "number between 0 and 1"
INTEGERS = "array of positive integers"
CAMERA = "camera: EPN (pn), EMOS1 (MOS1) or EMOS2 (MOS2)"   # any spelling of instruments.camera; given as EPN/EMOS1/EMOS2
OBJECT = "JSON object"
COUNT_OR_FILE = 'count (0 or more) or "file"'
NAME_OR_ID = "file name or id"
CHECKED_IN_SQL = "value"   # passed on as it is: SQL checks it (the event selection, xmm.event_rule)


def describe(kind) -> str:
    return "one of " + ", ".join(kind) if isinstance(kind, tuple) else kind


def _show(number) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ok(kind: str, value) -> bool:
    if kind == CHECKED_IN_SQL:
        return True
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == TEXT:
        return isinstance(value, str) and value != ""
    if isinstance(kind, tuple):
        return isinstance(value, str) and value.lower() in kind
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == COUNT_OR_FILE:
        return value == "file" or _number(value) and float(value).is_integer() and value >= 0
    if kind == INTEGERS:
        return isinstance(value, list) and 0 < len(value) <= 100 and all(
            _number(v) and float(v).is_integer() and v >= 1 for v in value)
    if kind == NAME_OR_ID:
        return isinstance(value, str) and value != "" or _number(value) and float(value).is_integer()
    if not _number(value):
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
    elif not isinstance(options, (str, bytes)):
        given = options
    else:
        try:
            given = json.loads(options)
        except (TypeError, ValueError) as exc:
            raise XmmError(f"{function}: options are not valid JSON ({exc})") from exc
    if not isinstance(given, dict):
        kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(given), "null")
        raise XmmError(f"{function}: options must be a JSON object, not {kind}",
                       hint="known options: " + ", ".join(spec))
    unknown = sorted(set(given) - set(spec))
    if unknown:
        import difflib   # only for a mistake

        close = difflib.get_close_matches(unknown[0], spec, n=1)
        raise XmmError(f"{function}: unknown option {', '.join(repr(k) for k in unknown)}",
                       hint=(f"did you mean {close[0]!r}? " if close else "")
                       + "known options: " + ", ".join(f"{k} ({describe(v[0])})" for k, v in spec.items()))
    out = {}
    for key, (kind, default, *bound) in spec.items():
        value = given.get(key, default)
        if kind == CAMERA and value is not None:
            if camera(value) is None:
                shown = repr(value) if isinstance(value, str) else json.dumps(value)
                raise XmmError(f"{function}: unknown {key} {shown}", hint="use EPN (pn), EMOS1 (MOS1) or EMOS2 (MOS2)")
            out[key] = camera(value)
            continue
        if key in given and value is not None and not _ok(kind, value):
            article = "" if isinstance(kind, tuple) else "an " if kind[0] in "aeiou" else "a "
            raise XmmError(f"{function}: option {key!r} must be {article}{describe(kind)}, not {json.dumps(value)}")
        if key in given and _number(value) and bound and value > bound[0]:
            raise XmmError(f"{function}: option {key!r} is {_show(value)}; it may be at most {_show(bound[0])}",
                           sqlstate="54000")
        if isinstance(kind, tuple) and value is not None:
            value = value.lower()
        elif kind in (INTEGER, COUNT_OR_FILE, NAME_OR_ID) and _number(value):
            value = int(value)
        elif kind == INTEGERS and value is not None:
            value = [int(v) for v in value]
        out[key] = value
    return out
