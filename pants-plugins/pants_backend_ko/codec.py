"""JSON codecs of the typed messages that cross a process boundary (`tool/messages.py`,
`oci/remote/state.py`): one way to write them, one strict way to read them back.

`encode` writes a message (`to_json()`) as sorted JSON; `decode` reads one with its
`from_json(value, where)`, which reads each field through `Fields`: a missing field or a value
of the wrong type is one `MessageError` naming the file and the field's path.

Pure Python, no Pants imports: both the Pants rules and the tool use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pants_backend_ko.errors import KoError

T = TypeVar("T")


class MessageError(KoError):
    """A message that cannot be read as its type. The rules and the tool come from the same
    backend, so it means a file written by hand or by another version."""


def encode(message: Any) -> bytes:
    """A message as the bytes of its file (sorted keys: the same message, the same bytes)."""
    return (json.dumps(message.to_json(), indent=2, sort_keys=True) + "\n").encode("utf-8")


def decode(cls: Callable[..., T], data: bytes, where: str) -> T:
    """Read a message of type `cls` from the bytes of its file; `where` names the file."""
    try:
        value = json.loads(data)
    except ValueError as e:
        raise MessageError(f"not JSON ({e})", where=where) from None
    return cls.from_json(value, where)  # type: ignore[attr-defined]


_REQUIRED: Any = object()


class Fields:
    """Typed access to one JSON object of a message; errors name the field's path."""

    def __init__(self, value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            raise MessageError(f"expected a JSON object, got {type(value).__name__}", where=where)
        self.value = value
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        if key in self.value:
            return self.value[key]
        if default is _REQUIRED:
            raise MessageError(f"the field {key!r} is missing", where=self.where)
        return default

    def _fail(self, key: str, expected: str) -> MessageError:
        return MessageError(f"{key} must be {expected}, got {self.value[key]!r}", where=self.where)

    def str(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def int(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default)
        if value is not default and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._fail(key, "an integer")
        return value

    def bool(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def strs(self, key: str, default: Any = ()) -> tuple[str, ...]:
        value = self._get(key, default)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return tuple(value)

    def pairs(self, key: str) -> tuple[tuple[str, str], ...]:
        value = self._get(key, ())
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, str) for v in p) for p in value
        ):
            raise self._fail(key, "a list of [string, string] pairs")
        return tuple((a, b) for a, b in value)

    def objects(self, key: str, decode: Callable[[Any, str], T]) -> tuple[T, ...]:
        value = self._get(key, ())
        if not isinstance(value, (list, tuple)):
            raise self._fail(key, "a list")
        return tuple(decode(item, f"{self.where}: {key}[{i}]") for i, item in enumerate(value))

    def str_map(self, key: str, *, nullable: bool = False) -> dict[str, str | None]:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and (isinstance(v, str) or (nullable and v is None)) for k, v in value.items()
        ):
            raise self._fail(key, "an object of strings" + (" or nulls" if nullable else ""))
        return dict(value)

    def object(self, key: str, decode: Callable[[Any, str], T]) -> T:
        return decode(self._get(key, _REQUIRED), f"{self.where}: {key}")

    def one_of(self, key: str, allowed: Sequence[str], default: Any = _REQUIRED) -> str:
        value = self.str(key, default)
        if value not in allowed:
            raise MessageError(
                f"{key} {value!r} is not one this tool knows ({', '.join(allowed)})",
                where=self.where,
                fix="run the tool that came with the Pants rules that wrote the file",
            )
        return value
