"""gotime against Go's own `time` package (a stdlib Go program, built offline)."""

from __future__ import annotations

import pytest
from tests.peers.go_reference import go_stdlib

from pants_backend_ko.golang import gotime

# JSON time strings: valid, lenient (Go's time.Parse fallback), and refused.
JSON_TIMES = [
    "2024-01-02T03:04:05Z",
    "0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0000-02-29T12:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "2020-01-01T00:00:00.000Z",
    "2020-01-01T00:00:00.120+00:00",
    "2020-01-01T00:00:00-00:00",
    "2020-01-01T00:00:00-07:00",
    "2020-01-01T00:00:00+05:45",
    "2020-01-01T00:00:00.1234567891Z",
    "2020-01-01T00:00:00.000000001Z",
    "2024-02-29T00:00:00Z",
    "2000-02-29T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:30:00-01:00",
    # time.Parse's leniency, which UnmarshalJSON falls back to:
    "2024-01-02T3:04:05Z",
    "2024-01-02T03:04:05,5Z",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00+00:60",
    "2020-01-01T00:00:00+23:60",
    "2020-01-01T00:00:00-24:00",
    # refused
    "2024-01-02t03:04:05Z",
    "2024-01-02T03:04:05z",
    "2024-01-02 03:04:05Z",
    "2020-13-01T00:00:00Z",
    "2021-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2020-01-00T00:00:00Z",
    "2020-01-01T24:00:00Z",
    "2020-01-01T00:60:00Z",
    "2020-01-01T00:00:60Z",
    "2020-01-01T00:00:00",
    "2020-01-01T00:00:00.Z",
    "2020-01-01T00:00:00+0100",
    "2020-01-01T00:00:00+01:00 ",
    "2020-01-01T00:00:00+25:00",
    "2020-01-01T00:00:00+00:61",
    "2020-1-01T00:00:00Z",
    "20-01-01T00:00:00Z",
    "+2020-01-01T00:00:00Z",
    "2020-01-01T00:00:00ZZ",
    "２０２０-01-01T00:00:00Z",
    "",
]

EPOCHS = [
    0,
    1,
    -1,
    1700000000,
    1712345678,
    951782400,  # 2000-03-01
    -62135596800,  # 0001-01-01
    -62135596801,
    -62167219200,  # 0000-01-01
    -62167219201,  # -0001-12-31
    253402300799,  # 9999-12-31T23:59:59
    253402300800,  # 10000-01-01
    4102444800,
    -2208988800,  # 1900-01-01
]


def _go(op: str, values: list[str]) -> list[tuple[str, bool]]:
    return [(out.decode(), not err) for out, err in go_stdlib(op, [[v] for v in values])]


def _ours(function, value) -> tuple[str, bool]:
    try:
        return function(value), True
    except ValueError:
        return "", False


def test_json_time_round_trip_matches_go() -> None:
    expected = _go("time.UnmarshalJSON.MarshalJSON", ['"' + t + '"' for t in JSON_TIMES])
    ours = [_ours(lambda t: '"' + gotime.reformat_json_time(t, "t") + '"', t) for t in JSON_TIMES]
    assert [(t, *o) for t, o in zip(JSON_TIMES, ours)] == [(t, *e) for t, e in zip(JSON_TIMES, expected)]


def test_json_time_in_utc_matches_go() -> None:
    expected = _go("time.UnmarshalJSON.UTC.RFC3339", ['"' + t + '"' for t in JSON_TIMES])
    ours = [_ours(lambda t: gotime.json_time_utc(t, "t"), t) for t in JSON_TIMES]
    assert [(t, *o) for t, o in zip(JSON_TIMES, ours)] == [(t, *e) for t, e in zip(JSON_TIMES, expected)]


def test_unix_seconds_match_go() -> None:
    expected = _go("time.Unix.UTC.RFC3339", [str(e) for e in EPOCHS])
    assert [(e, *_ours(gotime.unix_utc, e)) for e in EPOCHS] == [(e, *x) for e, x in zip(EPOCHS, expected)]
    expected_json = _go("time.Unix.UTC.MarshalJSON", [str(e) for e in EPOCHS])
    ours_json = [_ours(lambda e: '"' + gotime.unix_utc_json(e) + '"', e) for e in EPOCHS]
    assert [(e, *o) for e, o in zip(EPOCHS, ours_json)] == [(e, *x) for e, x in zip(EPOCHS, expected_json)]


def test_zero_time_is_what_go_writes() -> None:
    assert go_stdlib("time.UnmarshalJSON.MarshalJSON", [['"0001-01-01T00:00:00Z"']]) == [
        (f'"{gotime.ZERO_TIME}"'.encode(), "")
    ]
    assert gotime.unix_utc_json(-62135596800) == gotime.ZERO_TIME


def test_errors_say_what_and_where() -> None:
    with pytest.raises(
        ValueError, match=r"^config.created: 'yesterday' is not an RFC 3339 time like 2006-01-02T15:04:05Z$"
    ):
        gotime.reformat_json_time("yesterday", "config.created")
    with pytest.raises(ValueError, match=r"^t: expected an RFC 3339 time string, got 5$"):
        gotime.reformat_json_time(5, "t")
    with pytest.raises(ValueError, match="outside 0..9999"):
        gotime.unix_utc_json(253402300800, "SOURCE_DATE_EPOCH")
    with pytest.raises(ValueError, match="whole seconds"):
        gotime.unix_utc("0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole seconds"):
        gotime.unix_utc_json(True)  # a bool is an int to mypy, not to Go
