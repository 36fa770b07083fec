"""gojson against Go's own `encoding/json` (a stdlib Go program, built offline)."""

from __future__ import annotations

import json

import pytest
from tests.peers.go_reference import go_json, go_stdlib

from pants_backend_ko.golang import gojson

STRINGS = [
    "",
    "plain ascii",
    'quote " backslash \\ slash /',
    "html <script>&amp;</script> > <",
    "controls \x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f end",
    "del \x7f stays",
    "non-ascii: café ünïcødé 日本語 emoji 😀",
    "separators \u2028 and \u2029",
    "U+FFFD itself: \ufffd",
    "ko://example.com/cmd/app",
    "KO_DATA_PATH=/var/run/ko",
]

FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.5,
    0.1,
    1e-6,
    9.99e-7,
    1.5e-7,
    123456.789,
    1e20,
    1e21,
    1.2345e25,
    5e-324,
    1.7976931348623157e308,
    2.5,
    100.0,
    0.000123,
    1e-10,
]

JSON_VALUES = [
    '{"b": 1, "a": [true, false, null, "x<y"], "c": {"z": "", "y": 2.5}}',
    "[1, 2.0, 3e3, -0.5, 1e300]",
    '{"Labels": {"org.opencontainers.image.title": "a & b", "é": "ü"}}',
]


def _as_go_any(value):
    """What Go's json.Unmarshal into `any` yields, in Python: numbers become float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_as_go_any(v) for v in value]
    return gojson.sorted_map({k: _as_go_any(v) for k, v in value.items()})


def test_strings_match_go() -> None:
    expected = go_json([{"string": s.encode("utf-8")} for s in STRINGS])
    assert [gojson.dumps(s) for s in STRINGS] == expected


def test_invalid_utf8_becomes_ufffd_like_go() -> None:
    raw = [b"ok \xff\xfe end", b"\xc3", b"a\xed\xa0\x80b"]
    expected = go_json([{"string": r} for r in raw])
    # surrogateescape turns each invalid byte into one lone surrogate, which dumps treats as Go does.
    assert [gojson.dumps(r.decode("utf-8", "surrogateescape")) for r in raw] == expected
    assert expected[1] == b'"\\ufffd"'


def test_floats_match_go() -> None:
    expected = go_json([{"float": f} for f in FLOATS])
    assert [gojson.dumps(f) for f in FLOATS] == expected


def test_decoded_json_values_match_go() -> None:
    expected = go_json([{"json": text} for text in JSON_VALUES])
    ours = [gojson.dumps(_as_go_any(json.loads(text))) for text in JSON_VALUES]
    assert ours == expected


def test_known_escapes_literally() -> None:
    assert gojson.dumps("a&b<c>d") == b'"a\\u0026b\\u003cc\\u003ed"'
    assert gojson.dumps("\u2028\u2029") == b'"\\u2028\\u2029"'
    assert gojson.dumps("café") == '"café"'.encode()
    assert gojson.dumps("\x08\x0c\x01") == b'"\\b\\f\\u0001"'


def test_objects_keep_order_and_are_compact() -> None:
    assert gojson.dumps({"z": 1, "a": [1, "x"], "m": {}}) == b'{"z":1,"a":[1,"x"],"m":{}}'
    assert gojson.dumps(gojson.sorted_map({"z": 1, "a": 2, "é": 3, "B": 4})) == b'{"B":4,"a":2,"z":1,"\xc3\xa9":3}'
    assert gojson.dumps([None, True, False, b"\x00\xff"]) == b'[null,true,false,"AP8="]'


def test_rejects_what_go_cannot_write() -> None:
    with pytest.raises(ValueError, match="NaN"):
        gojson.dumps(float("nan"))
    with pytest.raises(TypeError, match="keys must be str"):
        gojson.dumps({1: "x"})
    with pytest.raises(TypeError, match="cannot write a set"):
        gojson.dumps({1, 2})


INDENTED = [
    '{"b": 1, "a": [true, false, null, "x<y"], "c": {"z": "", "y": 2.5}}',
    '{"empty_object": {}, "empty_array": [], "nested": [[], {}, [{}]]}',
    "[]",
    "{}",
    '"just a string & more"',
    "[1, [2, [3, [4]]]]",
]


def _go_answers(op: str, cases: list) -> list[bytes]:
    answers = go_stdlib(op, [[c] for c in cases])
    assert all(not err for _, err in answers), answers
    return [out for out, _ in answers]


def test_indented_encoder_matches_go() -> None:
    expected = _go_answers("json.Encoder.SetIndent", INDENTED)
    assert [gojson.dumps_indented(_as_go_any(json.loads(text))) for text in INDENTED] == expected


def test_loads_replaces_invalid_utf8_like_go() -> None:
    documents = [b'"ok \xff\xfe end"', b'"trunc \xe2\x82 end"', b'"sur \xed\xa0\x80 end"', b'{"k\xff": "v"}']
    expected = _go_answers("json.Encoder.SetIndent", documents)
    ours = []
    for document in documents:
        value = gojson.loads(document, "doc")
        if isinstance(value, gojson.JSONObject):
            value = dict(value)
        ours.append(gojson.dumps_indented(value))
    assert ours == expected


def test_loads_keeps_pairs_and_number_literals() -> None:
    value = gojson.loads(b'{"a": 1, "A": 2.50, "a": [1e3]}', "doc")
    assert isinstance(value, gojson.JSONObject)
    assert value == [("a", 1), ("A", "2.50"), ("a", ["1e3"])]
    assert isinstance(value[1][1], gojson.FloatLiteral)
    with pytest.raises(ValueError, match="^doc is not valid JSON: "):
        gojson.loads(b"{", "doc")
    with pytest.raises(ValueError, match="^doc is not valid JSON: NaN is not valid JSON"):
        gojson.loads(b"[NaN]", "doc")
    with pytest.raises(ValueError, match="^doc is nested too deeply"):
        gojson.loads(b"[" * 100000 + b"]" * 100000, "doc")
