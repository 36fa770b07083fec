"""`FrozenDict`: an immutable, hashable mapping that keeps insertion order.

Frozen dataclasses must hold hashable values; a Go map (`map[string]string`, e.g. labels and
annotations) is held as a `FrozenDict`, as a Go slice is held as a tuple. No Pants imports
(Pants has its own `pants.util.frozendict.FrozenDict` for the shell).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FrozenDict"]


class FrozenDict(Mapping):
    """An immutable, hashable mapping that keeps insertion order (so dataclasses stay hashable)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"
