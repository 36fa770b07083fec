"""Go's `time.Time` as ko and go-containerregistry read and write it: RFC 3339 text.

Four things of Go's `time` package (`src/time/format_rfc3339.go`, `format.go`, `time.go`):

- `reformat_json_time`: a time read by `Time.UnmarshalJSON` and written back by
  `Time.MarshalJSON` (what ggcr does to every `created` of a base config it edits):
  nanoseconds with trailing zeros cut, the offset kept, a zero offset written as `Z`;
- `unix_utc`: `time.Unix(sec, 0).UTC().Format(time.RFC3339)` (ko's `.Date`, `.Git.CommitDate`);
- `unix_utc_json`: the same time as `MarshalJSON` writes it, which refuses years outside
  0..9999 (the `created` of an image built with `SOURCE_DATE_EPOCH`);
- `json_time_utc`: a time read by `UnmarshalJSON`, then `.UTC().Format(time.RFC3339)` (the
  SPDX `created` field, whole seconds in UTC).

Reading follows Go exactly, including its leniency: `UnmarshalJSON` tries the strict RFC 3339
fast path and falls back to `time.Parse(time.RFC3339, ...)`, which also takes a one-digit
hour, `,` before the fraction and offsets up to 24:60 (Go's own strict check is disabled,
go.dev/issue/54580). A lower-case `t` or `z` is refused, as Go refuses it. Dates use the
proleptic Gregorian calendar with a year 0, like Go, not Python's `datetime` (years 1..9999).

`ZERO_TIME` is Go's zero `time.Time` as `MarshalJSON` writes it (never omitted by ggcr).
No Pants imports; the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ZERO_TIME", "reformat_json_time", "unix_utc", "unix_utc_json", "json_time_utc"]

ZERO_TIME = "0001-01-01T00:00:00Z"

_SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class _Time:
    """A moment as Go keeps it for formatting: Unix seconds, nanoseconds, offset east of UTC."""

    unix: int
    nanos: int = 0
    offset: int = 0  # seconds


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year, year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


# --------------------------------------------------------------------------- reading


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _fraction(text: str) -> tuple[int, str]:
    """Go's parseNanoseconds for `[.,]digits` at the start of `text`: (nanoseconds, rest).

    Only the first nine digits count (Go truncates, it does not round).
    """
    end = 1
    while end < len(text) and _digits(text[end]):
        end += 1
    digits = text[1:end][:9]
    return int(digits.ljust(9, "0")), text[end:]


def _fast_path(s: str) -> _Time | None:
    """Go's parseRFC3339: fixed positions, two-digit fields, offsets up to 23:59."""
    if len(s) < 19:
        return None
    fields = (s[0:4], s[5:7], s[8:10], s[11:13], s[14:16], s[17:19])
    if not all(_digits(f) for f in fields) or (s[4], s[7], s[10], s[13], s[16]) != ("-", "-", "T", ":", ":"):
        return None
    year, month, day, hour, minute, second = (int(f) for f in fields)
    if not (1 <= month <= 12 and 1 <= day <= _days_in(month, year) and hour <= 23 and minute <= 59 and second <= 59):
        return None
    rest = s[19:]
    nanos = 0
    if len(rest) >= 2 and rest[0] == "." and _digits(rest[1]):
        nanos, rest = _fraction(rest)
    offset = 0
    if rest != "Z":
        if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":" or not _digits(rest[1:3] + rest[4:6]):
            return None
        zone_hours, zone_minutes = int(rest[1:3]), int(rest[4:6])
        if zone_hours > 23 or zone_minutes > 59:
            return None
        offset = (zone_hours * 60 + zone_minutes) * 60 * (-1 if rest[0] == "-" else 1)
    return _moment(year, month, day, hour, minute, second, nanos, offset)


def _getnum(text: str, fixed: bool) -> tuple[int, str] | None:
    """Go's getnum: one or two leading digits (two when `fixed`)."""
    if not text[:1] or not _digits(text[0]):
        return None
    if not text[1:2] or not _digits(text[1]):
        return None if fixed else (int(text[0]), text[1:])
    return int(text[:2]), text[2:]


def _parse_layout(s: str) -> _Time | None:
    """Go's `time.Parse(time.RFC3339, s)`, the fallback of UnmarshalJSON."""
    if len(s) < 4 or not _digits(s[:4]):
        return None
    year, value = int(s[:4]), s[4:]
    numbers = []
    for separator, fixed in (("-", True), ("-", True), ("T", False), (":", True), (":", True)):
        if not value.startswith(separator):
            return None
        got = _getnum(value[1:], fixed)
        if got is None:
            return None
        number, value = got
        numbers.append(number)
    month, day, hour, minute, second = numbers
    if not (1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
        return None
    nanos = 0
    if len(value) >= 2 and value[0] in ".," and _digits(value[1]):
        nanos, value = _fraction(value)
    if value.startswith("Z"):
        offset, value = 0, value[1:]
    else:
        if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
            return None
        hours, minutes = _getnum(value[1:3], True), _getnum(value[4:6], True)
        if hours is None or minutes is None or hours[0] > 24 or minutes[0] > 60:
            return None
        offset = (hours[0] * 60 + minutes[0]) * 60 * (-1 if value[0] == "-" else 1)
        value = value[6:]
    if value or not 1 <= day <= _days_in(month, year):
        return None
    return _moment(year, month, day, hour, minute, second, nanos, offset)


def _moment(year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int, offset: int) -> _Time:
    local = _days_from_civil(year, month, day) * _SECONDS_PER_DAY + hour * 3600 + minute * 60 + second
    return _Time(local - offset, nanos, offset)


def _unmarshal(text: Any, where: str) -> _Time:
    """`Time.UnmarshalJSON` of the JSON string `text` (already unquoted)."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected an RFC 3339 time string, got {text!r}")
    moment = _fast_path(text) or _parse_layout(text)
    if moment is None:
        raise ValueError(f"{where}: {text!r} is not an RFC 3339 time like 2006-01-02T15:04:05Z")
    return moment


# --------------------------------------------------------------------------- writing


def _format(moment: _Time, nanos: bool) -> str:
    """Go's appendFormatRFC3339 (RFC3339, or RFC3339Nano when `nanos`)."""
    local = moment.unix + moment.offset
    days, seconds = divmod(local, _SECONDS_PER_DAY)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(seconds, 3600)
    minute, second = divmod(rest, 60)
    year_text = ("-" if year < 0 else "") + f"{abs(year):04d}"
    out = f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if nanos and moment.nanos:
        out += "." + f"{moment.nanos:09d}".rstrip("0")
    if moment.offset == 0:
        return out + "Z"
    zone = abs(moment.offset) // 60
    return out + ("-" if moment.offset < 0 else "+") + f"{zone // 60:02d}:{zone % 60:02d}"


def _marshal(moment: _Time, where: str) -> str:
    """`Time.MarshalJSON` without the quotes; Go refuses what RFC 3339 cannot write."""
    text = _format(moment, nanos=True)
    if text[4:5] != "-":
        raise ValueError(f"{where}: the year of {text} is outside 0..9999, which Go cannot write as JSON")
    if not text.endswith("Z") and abs(moment.offset) // 3600 >= 24:
        raise ValueError(f"{where}: the time zone offset of {text} is 24 hours or more, which Go cannot write as JSON")
    return text


def _check_seconds(epoch: Any) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError(f"epoch must be whole seconds since 1970, got {epoch!r}")
    return epoch


def reformat_json_time(text: Any, where: str) -> str:
    """A JSON time string as Go's time.Time writes it back after reading it."""
    return _marshal(_unmarshal(text, where), where)


def json_time_utc(text: Any, where: str) -> str:
    """A JSON time string read as Go does, then `.UTC().Format(time.RFC3339)` (whole seconds)."""
    moment = _unmarshal(text, where)
    return _format(_Time(moment.unix), nanos=False)


def unix_utc(epoch: int) -> str:
    """`time.Unix(epoch, 0).UTC().Format(time.RFC3339)`, e.g. `1970-01-01T00:00:00Z`."""
    return _format(_Time(_check_seconds(epoch)), nanos=False)


def unix_utc_json(epoch: int, where: str = "epoch") -> str:
    """`time.Unix(epoch, 0).UTC()` as `MarshalJSON` writes it; years outside 0..9999 are refused."""
    return _marshal(_Time(_check_seconds(epoch)), where)
