"""Go structs to and from JSON, as Go's `encoding/json` does it (`src/encoding/json/decode.go`,
`encode.go`), for frozen dataclasses that describe their Go fields.

A class lists its fields in Go's order as `_GO_FIELDS` (`Field(json_name, attribute, kind)`);
each `Kind` knows how Go decodes, encodes and `omitempty`s one field type:

- decoding: keys are matched to fields exactly, else case-insensitively (Go's simple folding);
  unknown keys are dropped; the last duplicate wins; `null` leaves a value field untouched and
  makes a slice, map or pointer nil (None); lone surrogate escapes become U+FFFD;
- encoding: keys in field order, maps sorted by key, `omitempty` drops false, 0, "", nil and
  empty slices and maps, never a struct (so a zero `time.Time` is always written);
- `Time` fields go through `gotime` (read and written back as `time.Time` does).

`oci/manifest.py` and `oci/configfile.py` describe go-containerregistry's structs with it;
their own kinds (digests, platforms, descriptors) build on `Kind`. No Pants imports.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gotime import reformat_json_time

__all__ = [
    "Kind",
    "String",
    "Bool",
    "Int",
    "Slice",
    "Strings",
    "StringMap",
    "EmptyStructMap",
    "Time",
    "Bytes",
    "Struct",
    "StructPointer",
    "StructList",
    "Field",
    "GoStruct",
    "match_field",
    "decode_struct",
    "type_error",
    "json_kind",
    "clean_str",
    "is_object",
    "is_array",
]


def clean_str(value: str) -> str:
    # JSON may carry lone surrogate escapes; Go decodes them to U+FFFD.
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def is_object(value: Any) -> bool:
    """A decoded JSON object (see `gojson.loads`)."""
    return isinstance(value, gojson.JSONObject)


def is_array(value: Any) -> bool:
    """A decoded JSON array."""
    return isinstance(value, list) and not isinstance(value, gojson.JSONObject)


def json_kind(value: Any) -> str:
    """The kind of a decoded JSON value, as errors name it ("a string", "an object").

    Not a Go type name: those (`int64`, `map[string]string`) are `gofmt.type_name`'s.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, gojson.FloatLiteral)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, gojson.JSONObject):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def type_error(where: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"{where}: expected {expected}, got {json_kind(value)}")


def _same(value: Any) -> Any:
    return value


class Kind:
    """How one Go field type is decoded, encoded, and when `omitempty` drops it."""

    def decode(self, value: Any, current: Any, where: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value

    def empty(self, value: Any) -> bool:
        return not value


class String(Kind):
    def decode(self, value, current, where):
        if value is None:
            return current  # null leaves a Go string untouched
        if not isinstance(value, str):
            raise type_error(where, "a string", value)
        return clean_str(value)


class Bool(Kind):
    def decode(self, value, current, where):
        if value is None:
            return current
        if not isinstance(value, bool):
            raise type_error(where, "true or false", value)
        return value


class Int(Kind):
    def decode(self, value, current, where):
        if value is None:
            return current
        if isinstance(value, bool) or not isinstance(value, int):
            raise type_error(where, "an integer", value)
        if not -(1 << 63) <= value < (1 << 63):
            raise ValueError(f"{where}: {value} does not fit a 64-bit integer")
        return value


class Slice(Kind):
    """[]T: null is nil (None); `element(item, where)` decodes each element (Go's element
    rules, e.g. what a null element becomes); `expected` names the array in errors."""

    def __init__(self, element: Callable[[Any, str], Any], expected: str, encode_element: Callable = _same) -> None:
        self.element = element
        self.expected = expected
        self.encode_element = encode_element

    def decode(self, value, current, where):
        if value is None:
            return None
        if not is_array(value):
            raise type_error(where, self.expected, value)
        return tuple(self.element(item, f"{where}[{i}]") for i, item in enumerate(value))

    def encode(self, value):
        return None if value is None else [self.encode_element(item) for item in value]


def _string_element(item: Any, where: str) -> str:
    if item is None:
        return ""  # a null element of []string is ""
    if not isinstance(item, str):
        raise type_error(where, "a string", item)
    return clean_str(item)


class Strings(Slice):
    """[]string: null is nil (None); a null element is ""."""

    def __init__(self) -> None:
        super().__init__(_string_element, "an array of strings")


class StringMap(Kind):
    """map[string]string: decoded into the existing map, encoded sorted by key."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not is_object(value):
            raise type_error(where, "an object of strings", value)
        out = dict(current or {})
        for key, item in value:
            if item is None:
                item = ""
            elif not isinstance(item, str):
                raise type_error(f"{where}[{key!r}]", "a string", item)
            out[clean_str(key)] = clean_str(item)
        return FrozenDict(out)

    def encode(self, value):
        return None if value is None else gojson.sorted_map(value)


class EmptyStructMap(Kind):
    """map[string]struct{} (Volumes, ExposedPorts): only the keys matter; `{}` on output."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not is_object(value):
            raise type_error(where, "an object", value)
        keys = set(current or ())
        for key, item in value:
            if item is not None and not is_object(item):
                raise type_error(f"{where}[{key!r}]", "an object", item)
            keys.add(clean_str(key))
        return tuple(sorted(keys))

    def encode(self, value):
        return None if value is None else {key: {} for key in sorted(value)}


class Time(Kind):
    """v1.Time: a struct, so `omitempty` never drops it; the zero time is written out."""

    def decode(self, value, current, where):
        if value is None:
            return current
        return reformat_json_time(value, where)

    def empty(self, value):
        return False


class Bytes(Kind):
    """[]byte: base64 in JSON."""

    def decode(self, value, current, where):
        if value is None:
            return None
        if not isinstance(value, str):
            raise type_error(where, "a base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: {value!r} is not standard base64") from None

    def encode(self, value):
        return None if value is None else bytes(value)

    def empty(self, value):
        return not value


class Struct(Kind):
    """A struct value field (never omitted); null leaves it untouched."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def decode(self, value, current, where):
        if value is None:
            return current
        return decode_struct(self.cls, value, current, where)

    def encode(self, value):
        return value.to_json()

    def empty(self, value):
        return False


class StructPointer(Struct):
    """A *Struct field: null is nil (None) and `omitempty` drops nil."""

    def decode(self, value, current, where):
        if value is None:
            return None
        return decode_struct(self.cls, value, current, where)

    def encode(self, value):
        return None if value is None else value.to_json()

    def empty(self, value):
        return value is None


class StructList(Slice):
    """[]Struct: null is nil; a null element is the zero struct."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        super().__init__(self._element, "an array of objects", lambda item: item.to_json())

    def _element(self, item: Any, where: str) -> Any:
        return self.cls() if item is None else decode_struct(self.cls, item, None, where)


@dataclass(frozen=True)
class Field:
    json: str
    attr: str
    kind: Kind
    omitempty: bool = True


def _fold(name: str) -> str:
    # Go matches keys with simple case folding; K (Kelvin) and ſ (long s) fold to ASCII.
    return "".join({"\u212a": "k", "\u017f": "s"}.get(c, c.lower() if c < "\x80" else c) for c in name)


def match_field(key: str, names: Mapping[str, Any]) -> str | None:
    """Go's field lookup: an exact match first, otherwise the first case-insensitive match."""
    if key in names:
        return key
    folded = _fold(key)
    for name in names:
        if _fold(name) == folded:
            return name
    return None


def decode_struct(cls: type[GoStruct], value: Any, current: Any, where: str) -> Any:
    if not is_object(value):
        raise type_error(where, "an object", value)
    fields = {f.json: f for f in cls._GO_FIELDS}
    base = current if current is not None else cls()
    attrs = {f.attr: getattr(base, f.attr) for f in cls._GO_FIELDS}
    for key, item in value:
        name = match_field(key, fields)
        if name is None:
            continue  # unknown to the Go struct: dropped, as ggcr does
        f = fields[name]
        attrs[f.attr] = f.kind.decode(item, attrs[f.attr], f"{where}.{name}")
    return cls(**attrs)


def encode_struct(instance: Any) -> dict:
    out: dict[str, Any] = {}
    for f in instance._GO_FIELDS:
        value = getattr(instance, f.attr)
        if f.omitempty and f.kind.empty(value):
            continue
        out[f.json] = f.kind.encode(value)
    return out


class GoStruct:
    """Mixin: `to_json()` gives a dict in Go field order; `from_json_value` decodes one."""

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = ()

    def to_json(self) -> dict:
        return encode_struct(self)

    def to_bytes(self) -> bytes:
        return gojson.dumps(self.to_json())

    @classmethod
    def from_json_value(cls, value: Any, where: str) -> Any:
        return decode_struct(cls, value, None, where)

    @classmethod
    def parse_object(cls, data: bytes, what: str) -> Any:
        """Decode JSON bytes that must hold one object into this struct (`what` names them)."""
        value = gojson.loads(data, what)
        if not is_object(value):
            raise ValueError(f"{what}: expected a JSON object, got {json_kind(value)}")
        return decode_struct(cls, value, None, what)
