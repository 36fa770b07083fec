"""gostrconv against Go's own `strconv` (a stdlib Go program, built offline)."""

from __future__ import annotations

import pytest
from tests.peers.go_reference import go_stdlib

from pants_backend_ko.golang import gostrconv

# Literals (as bytes: some are not UTF-8), valid and invalid, for Unquote and QuotedPrefix.
LITERALS = [
    b'""',
    b'"plain"',
    b'"esc \\a\\b\\f\\n\\r\\t\\v\\\\ \\""',
    b'"hex \\x41\\x7f\\x80\\xff"',
    b'"oct \\101\\000\\377"',
    b'"oct too big \\400"',
    b'"oct short \\12"',
    b'"oct bad digit \\108"',
    b'"uni \\u00e9\\u65e5\\U0001F600"',
    b'"surrogate \\ud800"',
    b'"beyond \\U00110000"',
    b'"short hex \\x4"',
    b'"bad hex \\xZZ"',
    b'"single quote escaped \\\'"',
    b'"unknown escape \\q"',
    b'"newline \n inside"',
    b'"raw invalid \xff byte"',
    b'"truncated \xe2\x82 utf8"',
    b'"encoded surrogate \xed\xa0\x80"',
    b'"trailing backslash \\"',
    b'"unterminated',
    b'"quote " inside"',
    b'"a"b',
    b'"a" "b"',
    b"`raw \\n no escapes`",
    b"`raw with \r carriage \r returns`",
    b"`raw\nnewline`",
    b"`raw \xff invalid`",
    b"`unterminated",
    b"`a`b",
    b"'a'",
    b"'\\n'",
    b"'\\''",
    b"'\\\"'",
    b"'ab'",
    b"''",
    b"'\xe6\x97\xa5'",
    b"'\xff'",
    b"x",
    b"",
    b'"',
    b"plain",
]

# Strings for Quote (as bytes: some are not UTF-8).
QUOTE = [
    b"",
    b"plain ascii",
    b'quote " backslash \\',
    b"controls \x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x7f",
    b"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
    b"nbsp \xc2\xa0 soft hyphen \xc2\xad zwsp \xe2\x80\x8b bom \xef\xbb\xbf",
    b"line sep \xe2\x80\xa8 para sep \xe2\x80\xa9",
    b"invalid \xff\xfe and truncated \xe2\x82 and surrogate \xed\xa0\x80",
    b"private use \xee\x80\x80 and c1 \xc2\x85",
    b"'single'",
]


def _ours(function, text: str) -> tuple[bytes, bool]:
    try:
        return gostrconv.go_bytes(function(text)), True
    except ValueError:
        return b"", False


def _check(op: str, function, cases: list[bytes]) -> None:
    expected = [(out, not err) for out, err in go_stdlib(op, [[c] for c in cases])]
    ours = [_ours(function, gostrconv.go_string(c)) for c in cases]
    assert [(c, *o) for c, o in zip(cases, ours)] == [(c, *e) for c, e in zip(cases, expected)]


def test_unquote_matches_go() -> None:
    _check("strconv.Unquote", gostrconv.unquote, LITERALS)


def test_quoted_prefix_matches_go() -> None:
    _check("strconv.QuotedPrefix", gostrconv.quoted_prefix, [*LITERALS, b'"a\\"b" = rest', b"`k` = v"])


def test_quote_matches_go() -> None:
    _check("strconv.Quote", gostrconv.quote, QUOTE)


RUNES = [0, 7, 9, 39, 34, 65, 92, 127, 0xA0, 0xE9, 0x2028, 0xD800, 0xFFFD, 0x1F600, 0x10FFFF, 0x110000, -1]


def test_quote_rune_matches_go() -> None:
    expected = [out.decode() for out, err in go_stdlib("strconv.QuoteRune", [[str(r)] for r in RUNES])]
    assert [gostrconv.quote_rune(r) for r in RUNES] == expected


INTEGERS = [
    "0",
    "1700000000",
    "-1",
    "+5",
    "007",
    "-0",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "",
    "+",
    "-",
    " 1",
    "1 ",
    "1_000",
    "0x10",
    "1e3",
    "1.0",
    "\u0661\u0662",
    "++1",
]


LITERAL_INTEGERS = [
    *INTEGERS,
    "0x1F",
    "0X1f",
    "0o17",
    "017",
    "0b101",
    "0",
    "00",
    "09",
    "0x",
    "0b2",
    "1_000",
    "0x_1F",
    "_1",
    "1_",
    "1__0",
    "0_17",
    "-0x10",
    "+0b1",
    "0x7fffffffffffffff",
    "0x8000000000000000",
]


@pytest.mark.parametrize("base, cases", [(10, INTEGERS), (0, LITERAL_INTEGERS)])
def test_parse_int_matches_go(base: int, cases: list[str]) -> None:
    answers = go_stdlib(f"strconv.ParseInt.{base}", [[i] for i in cases])
    expected = [(out.decode(), not err) for out, err in answers]
    ours = []
    for text in cases:
        try:
            ours.append((str(gostrconv.parse_int(text, base)), True))
        except ValueError:
            ours.append(("", False))
    # Go answers the clamped value with a range error; only whether it parses must agree.
    assert [(t, o[1], o[0] if o[1] else "") for t, o in zip(cases, ours)] == [
        (t, e[1], e[0] if e[1] else "") for t, e in zip(cases, expected)
    ]


def test_go_strings_keep_their_bytes() -> None:
    assert gostrconv.unquote('"\\xff\\x41"') == "\udcffA"
    assert gostrconv.go_bytes(gostrconv.unquote('"\\xff\\x41"')) == b"\xffA"
    assert gostrconv.quote(gostrconv.go_string(b"\xff")) == '"\\xff"'
    with pytest.raises(ValueError, match="invalid syntax"):
        gostrconv.unquote('"a" tail')
