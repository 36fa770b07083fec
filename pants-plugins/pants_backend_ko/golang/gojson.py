"""JSON as Go's `encoding/json` writes and reads it.

ko never writes JSON text itself: the image config, manifest and index are Go structs that
go-containerregistry marshals with `json.Marshal` (`pkg/v1/partial`, `mutate`), and ko's SPDX
document goes through a `json.Encoder` with `SetIndent("", "  ")` (`internal/sbom/spdx.go`).
To get the same bytes (and so the same digests) we copy Go's rules
(`src/encoding/json/encode.go`):

- compact output, no whitespace (`dumps`); or two-space indentation with one newline at the
  end, and empty arrays and objects kept as `[]` / `{}` (`dumps_indented`, the Encoder);
- UTF-8 output: non-ASCII characters are written as they are, not `\\u`-escaped;
- HTML-safe escaping: `<`, `>` and `&` become `\\u003c`, `\\u003e`, `\\u0026`;
- U+2028 and U+2029 are escaped, invalid UTF-8 (lone surrogates here, e.g. from
  `surrogateescape`) becomes `\\ufffd`, one per byte as Go does;
- control characters use `\\b \\f \\n \\r \\t`, the rest `\\u00XX` (lower-case hex);
- object keys in the order the caller gives them. Go writes structs in field order and maps
  sorted by key, so callers build dicts in struct field order and pass map-typed fields
  through `sorted_map`;
- floats as Go's ES6-style number formatting; `bytes` as standard base64 (Go's `[]byte`).

`loads` reads JSON the way Go's decoder sees it before it fills a struct: objects as their
ordered (key, value) pairs with duplicates kept, numbers that are not integer literals kept
as text, invalid UTF-8 replaced by U+FFFD. `gostruct` fills Go structs from that.

This module knows nothing about images; it is the one place JSON bytes are produced.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "dumps_indented", "sorted_map", "loads", "JSONObject", "FloatLiteral"]

# Every character Go escapes when HTML escaping is on, plus surrogates (invalid UTF-8 in Go).
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')

# The bytes that surrogateescape could not decode.
_INVALID_BYTE = re.compile("[\udc80-\udcff]")

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


def _encode(value: Any, out: list, indent: str | None, depth: int) -> None:
    """Append the JSON text of `value`; `indent` None is compact, else Go's Indent with that unit."""
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
        items = list(value.items())
        for key, _ in items:
            if not isinstance(key, str):
                raise TypeError(f"gojson: object keys must be str, got {type(key).__name__} {key!r}")
        _container("{", "}", items, out, indent, depth)
    elif isinstance(value, (list, tuple)):
        _container("[", "]", [(None, item) for item in value], out, indent, depth)
    else:
        raise TypeError(f"gojson: cannot write a {type(value).__name__} as JSON: {value!r}")


def _container(open_: str, close: str, items: list, out: list, indent: str | None, depth: int) -> None:
    """An object (items are (key, value)) or array (keys None); Go's Indent leaves `{}`/`[]` alone."""
    out.append(open_)
    if not items:
        out.append(close)
        return
    newline = None if indent is None else "\n" + indent * (depth + 1)
    for i, (key, item) in enumerate(items):
        if i:
            out.append(",")
        if newline is not None:
            out.append(newline)
        if key is not None:
            out.append(_string(key))
            out.append(":" if indent is None else ": ")
        _encode(item, out, indent, depth + 1)
    if indent is not None:
        out.append("\n" + indent * depth)
    out.append(close)


def dumps(value: Any) -> bytes:
    """The bytes Go's `json.Marshal` gives for the equivalent Go value (see module docstring)."""
    out: list = []
    _encode(value, out, None, 0)
    # surrogatepass is never needed: surrogates were replaced by \ufffd above.
    return "".join(out).encode("utf-8")


def dumps_indented(value: Any) -> bytes:
    """The bytes of Go's `json.NewEncoder(w)` with `SetIndent("", "  ")`: indented, newline-terminated."""
    out: list = []
    _encode(value, out, "  ", 0)
    out.append("\n")  # json.Encoder.Encode ends every value with a newline
    return "".join(out).encode("utf-8")


def sorted_map(mapping: Mapping[str, Any]) -> dict:
    """A copy of `mapping` in Go's map order: keys sorted by their UTF-8 bytes.

    Python compares str by code point, which is the same order as comparing UTF-8 bytes.
    """
    return {key: mapping[key] for key in sorted(mapping)}


class JSONObject(list):
    """A JSON object as its (key, value) pairs, in order, duplicates kept (as Go's decoder sees it)."""


class FloatLiteral(str):
    """A JSON number that is not an integer literal, as written (Go refuses it for integer fields)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str, what: str) -> Any:
    """Parse JSON for a Go decoder: objects become `JSONObject` pairs, non-integers `FloatLiteral`.

    Invalid UTF-8 becomes U+FFFD, as Go's decoder does; `what` names the input in errors.
    """
    if isinstance(data, (bytes, bytearray)):
        # Go replaces each byte that is not UTF-8 with one U+FFFD (errors="replace" would
        # replace a truncated sequence as a whole).
        text = _INVALID_BYTE.sub("\ufffd", bytes(data).decode("utf-8", "surrogateescape"))
    else:
        text = data
    try:
        return json.loads(
            text,
            object_pairs_hook=JSONObject,
            parse_float=FloatLiteral,
            parse_constant=_reject_constant,
        )
    except ValueError as e:
        raise ValueError(f"{what} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to be read; it is not an image document") from None
