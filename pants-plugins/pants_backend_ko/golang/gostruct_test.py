"""gostruct against Go's own `encoding/json` on a struct with one field of each kind.

`_Sample` mirrors `sample` in tests/peers/go_reference.py's stdlib program: every document is
decoded and re-encoded by Go and by us, and the bytes (or the refusal) must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from tests.peers.go_reference import go_stdlib

from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.golang.gostruct import (
    Bool,
    Bytes,
    EmptyStructMap,
    Field,
    GoStruct,
    Int,
    String,
    StringMap,
    Strings,
    Struct,
    StructList,
    StructPointer,
    Time,
)
from pants_backend_ko.golang.gotime import ZERO_TIME


@dataclass(frozen=True)
class _Inner(GoStruct):
    a: str = ""
    n: int = 0

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("a", "a", String(), omitempty=False),
        Field("n", "n", Int()),
    )


@dataclass(frozen=True)
class _Sample(GoStruct):
    s: str = ""
    so: str = ""
    b: bool = False
    i: int = 0
    l: tuple[str, ...] | None = None  # noqa: E741 - the Go field's name
    ln: tuple[str, ...] | None = None
    m: FrozenDict | None = None
    e: tuple[str, ...] | None = None
    t: str = ZERO_TIME
    y: bytes | None = None
    inner: _Inner = field(default_factory=_Inner)
    p: _Inner | None = None
    ls: tuple[_Inner, ...] | None = None
    kelvin: str = ""

    _GO_FIELDS: ClassVar[tuple[Field, ...]] = (
        Field("s", "s", String(), omitempty=False),
        Field("so", "so", String()),
        Field("b", "b", Bool()),
        Field("i", "i", Int()),
        Field("l", "l", Strings()),
        Field("ln", "ln", Strings(), omitempty=False),
        Field("m", "m", StringMap()),
        Field("e", "e", EmptyStructMap()),
        Field("t", "t", Time(), omitempty=False),
        Field("y", "y", Bytes()),
        Field("in", "inner", Struct(_Inner), omitempty=False),
        Field("p", "p", StructPointer(_Inner)),
        Field("ls", "ls", StructList(_Inner)),
        Field("kind", "kelvin", String(), omitempty=False),
    )


DOCUMENTS = [
    b"{}",
    b'{"s": "x", "so": "", "b": false, "i": 0, "l": [], "ln": [], "m": {}, "e": {}, "y": "", "ls": []}',
    b'{"s": null, "so": null, "b": null, "i": null, "l": null, "ln": null, "m": null, "p": null, "in": null}',
    b'{"S": "upper", "So": "mixed", "IN": {"A": "x"}, "\xe2\x84\xaaind": "kelvin sign folds to k"}',
    b'{"s": "first", "s": "last", "S": "folded last"}',
    b'{"m": {"z": "1", "a": "2", "n": null}, "m": {"b": "merged"}}',
    b'{"in": {"a": "x"}, "in": {"n": 5}}',
    b'{"e": {"/b": {}, "/a": {"ignored": 1}, "/c": null}}',
    b'{"l": ["a", null, "<&>"], "ln": null}',
    b'{"t": "2024-01-02T03:04:05.500+01:00"}',
    b'{"t": null}',
    b'{"y": "AP8="}',
    b'{"p": {"a": ""}, "ls": [null, {"n": -1}]}',
    b'{"i": 9223372036854775807}',
    b'{"unknown": {"deep": [1, 2]}, "s": "kept"}',
    b'{"s": "bad \\ud800 surrogate"}',
    b'{"s": "bad \xff byte"}',
    # refused by Go
    b'{"i": 1.5}',
    b'{"i": 1e3}',
    b'{"i": 9223372036854775808}',
    b'{"i": "1"}',
    b'{"s": 1}',
    b'{"b": "true"}',
    b'{"l": "a"}',
    b'{"l": [1]}',
    b'{"m": {"a": 1}}',
    b'{"m": []}',
    b'{"e": {"a": 1}}',
    b'{"t": "yesterday"}',
    b'{"t": 5}',
    b'{"y": "not base64!"}',
    b'{"in": []}',
    b'{"ls": [1]}',
    b"[]",
    b'"x"',
    b"{",
]


def _ours(document: bytes) -> tuple[bytes, bool]:
    try:
        return _Sample.parse_object(document, "doc").to_bytes(), True
    except ValueError:
        return b"", False


def test_decode_and_encode_match_go() -> None:
    expected = [(out, not err) for out, err in go_stdlib("json.Unmarshal.sample", [[d] for d in DOCUMENTS])]
    ours = [_ours(d) for d in DOCUMENTS]
    assert [(d, *o) for d, o in zip(DOCUMENTS, ours)] == [(d, *e) for d, e in zip(DOCUMENTS, expected)]


def test_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^doc\.i: expected an integer, got a number$"):
        _Sample.parse_object(b'{"i": 1.5}', "doc")
    with pytest.raises(ValueError, match=r"^doc\.ls\[0\]: expected an object, got a number$"):
        _Sample.parse_object(b'{"ls": [1]}', "doc")
    with pytest.raises(ValueError, match=r"^doc: expected a JSON object, got an array$"):
        _Sample.parse_object(b"[]", "doc")
