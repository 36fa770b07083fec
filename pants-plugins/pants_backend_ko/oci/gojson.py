"""JSON bytes exactly as Go's `encoding/json` (`json.Marshal`) writes them.

ko never writes JSON text itself: the image config, manifest and index are Go structs that
go-containerregistry marshals with `json.Marshal`. To get the same bytes (and so the same
digests) we copy Go's rules (ko-image-format.md §6.1):

- compact output, no whitespace;
- UTF-8 output: non-ASCII characters are written as they are, not `\\u`-escaped;
- HTML-safe escaping: `<`, `>` and `&` become `\\u003c`, `\\u003e`, `\\u0026`;
- U+2028 and U+2029 are escaped, invalid UTF-8 (lone surrogates here) becomes `\\ufffd`;
- control characters use `\\b \\f \\n \\r \\t`, the rest `\\u00XX` (lower-case hex);
- object keys in the order the caller gives them. Go writes structs in field order and maps
  sorted by key, so callers build dicts in struct field order and pass map-typed fields
  through `sorted_map`;
- floats as Go's ES6-style number formatting; `bytes` as standard base64 (Go's `[]byte`).

This module knows nothing about images; it is the one place JSON bytes are produced.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "sorted_map"]

# Every character Go escapes when HTML escaping is on, plus surrogates (invalid UTF-8 in Go).
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _escape_char(match: re.Match) -> str:
    char = match.group(0)
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        # A lone surrogate cannot be UTF-8; Go replaces invalid UTF-8 bytes with U+FFFD.
        return "\\ufffd"
    return "\\u%04x" % code


def _string(value: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, value) + '"'


def _float(value: float) -> str:
    """Go's float64 encoder: shortest round-trip digits, 'f' form in [1e-6, 1e21), else 'e'."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"gojson: {value!r} cannot be written as JSON (Go rejects NaN and Inf too)")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(str(d) for d in digit_tuple).rstrip("0") or "0"
    exponent = int(exponent) + (len(digit_tuple) - len(digits))
    # value == 0.<digits> * 10**(point) with point = exponent + len(digits)
    point = exponent + len(digits)
    prefix = "-" if sign else ""
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp = point - 1
        exp_text = ("-" if exp < 0 else "+") + ("%02d" % abs(exp))
        if exp_text.startswith("-0"):
            exp_text = "-" + exp_text[2:]  # Go cleans "e-07" to "e-7"
        return f"{prefix}{mantissa}e{exp_text}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _encode(value: Any, out: list) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (bytes, bytearray)):
        out.append('"' + base64.b64encode(bytes(value)).decode("ascii") + '"')
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"gojson: object keys must be str, got {type(key).__name__} {key!r}")
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"gojson: cannot write a {type(value).__name__} as JSON: {value!r}")


def dumps(value: Any) -> bytes:
    """The bytes Go's `json.Marshal` gives for the equivalent Go value (see module docstring)."""
    out: list = []
    _encode(value, out)
    # surrogatepass is never needed: surrogates were replaced by \ufffd above.
    return "".join(out).encode("utf-8")


def sorted_map(mapping: Mapping[str, Any]) -> dict:
    """A copy of `mapping` in Go's map order: keys sorted by their UTF-8 bytes.

    Python compares str by code point, which is the same order as comparing UTF-8 bytes.
    """
    return {key: mapping[key] for key in sorted(mapping)}
