"""The JSON codec of the typed messages that cross a process boundary (`tool/messages.py`,
`oci/remote/state.py`, `oci/remote/limits.py`): one way to write them, one strict way to read
them back.

A message is a frozen dataclass that derives from `Message`; its codec comes from its fields'
annotations, so a new field is one line on both sides of the boundary. JSON names are the field
names. Supported annotations: `str`, `int`, `float` (an integer is read as one too), `bool`,
`X | None`, `tuple[X, ...]` (a list), `tuple[X, Y]` (a fixed-length list), `Mapping[str, X]`
(an object) and another `Message`. A field with a default may be missing from the JSON; a
missing field without one, a value of the wrong type, or a value the message's own check
refuses, is one `MessageError` naming the file and the field's path.

`encode` writes a message as sorted JSON (the same message, the same bytes); `decode` reads one.

Pure Python, no Pants imports: both the Pants rules and the tool use it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

from pants_backend_ko.errors import KoError

M = TypeVar("M", bound="Message")
# (JSON value, its path for messages) -> Python value
_Decode = Callable[[Any, str], Any]


class MessageError(KoError):
    """A message that cannot be read as its type. The rules and the tool come from the same
    backend, so it means a file written by hand or by another version."""


def encode(message: Message, *, compact: bool = False) -> bytes:
    """A message as the bytes of its file; `compact` leaves out the indentation (a message with
    many small values, where it would be most of the file)."""
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    return (json.dumps(message.to_json(), sort_keys=True, **layout) + "\n").encode("utf-8")


def decode(cls: type[M], data: bytes, where: str) -> M:
    """Read a message of type `cls` from the bytes of its file; `where` names the file."""
    try:
        value = json.loads(data)
    except ValueError as e:
        raise MessageError(f"not JSON ({e})", where=where) from None
    return cls.from_json(value, where)


def check_kind(kind: str, known: Sequence[str], what: str = "kind") -> None:
    """A message names a kind of thing this version knows, or it is refused (not ignored)."""
    if kind not in known:
        raise MessageError(
            f"{what} {kind!r} is not one this tool knows ({', '.join(known)})",
            fix="run the tool that came with the Pants rules that wrote the file",
        )


def _to_json(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_json()
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


class Message:
    """A frozen dataclass with a JSON codec derived from its fields' annotations."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls: type[M], value: Any, where: str) -> M:
        if not isinstance(value, Mapping):
            raise MessageError(f"expected a JSON object, got {_json_type(value)}", where=where)
        kwargs = {}
        # mypy 1.1 does not see that a class object (type[M]) is Hashable, as every class is.
        for field, read in _field_decoders(cls):  # type: ignore[arg-type]
            if field.name in value:
                kwargs[field.name] = read(value[field.name], f"{where}: {field.name}")
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise MessageError(f"the field {field.name!r} is missing", where=where)
        try:
            return cls(**kwargs)
        except KoError as e:  # a check of the message itself (`__post_init__`)
            raise e if e.where else MessageError(e.what, where=where, fix=e.fix) from None


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _wrong(path: str, expected: str, value: Any) -> MessageError:
    where, _, name = path.rpartition(": ")
    return MessageError(f"{name} must be {expected}, got {value!r}", where=where)


def _scalar(kind: type, expected: str) -> _Decode:
    def read(value: Any, path: str) -> Any:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _wrong(path, expected, value)
        return value

    return read


def _read_float(value: Any, path: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _wrong(path, "a number", value)
    return float(value)


_SCALARS = {
    "str": _scalar(str, "a string"),
    "int": _scalar(int, "an integer"),
    "float": _read_float,
    "bool": _scalar(bool, "true or false"),
}


def _split_arguments(text: str) -> list[str]:
    """`a, tuple[b, c], d` -> the top-level arguments of a generic."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _decoder(annotation: str, namespace: Mapping[str, Any]) -> _Decode:
    """A reader for one annotation, as written in the source (`from __future__ import annotations`)."""
    annotation = annotation.strip()
    if annotation.endswith("| None"):
        inner = _decoder(annotation[: -len("| None")], namespace)
        return lambda value, path: None if value is None else inner(value, path)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    generic, _, rest = annotation.partition("[")
    if rest:
        arguments = _split_arguments(rest[:-1])
        if generic == "tuple" and arguments[-1] == "...":
            item = _decoder(arguments[0], namespace)

            def read_list(value: Any, path: str) -> tuple:
                if not isinstance(value, list):
                    raise _wrong(path, "a list", value)
                return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))

            return read_list
        if generic == "tuple":
            items = [_decoder(argument, namespace) for argument in arguments]

            def read_fixed(value: Any, path: str) -> tuple:
                if not isinstance(value, list) or len(value) != len(items):
                    raise _wrong(path, f"a list of {len(items)}", value)
                return tuple(read(v, f"{path}[{i}]") for i, (read, v) in enumerate(zip(items, value)))

            return read_fixed
        if generic == "Mapping" and arguments[0] == "str":
            item = _decoder(arguments[1], namespace)

            def read_object(value: Any, path: str) -> dict:
                if not isinstance(value, dict):
                    raise _wrong(path, "an object", value)
                return {k: item(v, f"{path}[{k!r}]") for k, v in value.items()}

            return read_object
    cls = namespace.get(annotation)
    if isinstance(cls, type) and issubclass(cls, Message):
        return cls.from_json
    raise TypeError(f"no JSON codec for the annotation {annotation!r}")


@cache
def _field_decoders(cls: type) -> tuple[tuple[dataclasses.Field, _Decode], ...]:
    namespace = vars(sys.modules[cls.__module__])
    return tuple((field, _decoder(str(field.type), namespace)) for field in dataclasses.fields(cls))
