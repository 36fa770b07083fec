"""Go's `strconv`: `Unquote`, `QuotedPrefix`, `Quote`, `QuoteRune` (`src/strconv/quote.go`) and `ParseInt`.

Go strings are bytes and need not be UTF-8 (`"\\xff"` is one byte 0xff). Here a Go string is
a Python `str` whose bytes that are not UTF-8 are lone surrogates U+DC80..U+DCFF, one per
byte: what `bytes.decode("utf-8", "surrogateescape")` gives and `go_bytes` turns back.
`gojson.dumps` writes each such byte as `\\ufffd`, as Go's encoder does.

Used for the string literals of `text/template` actions and for the quoted keys and values
of `go version -m` output (`runtime/debug.ParseBuildInfo`); `parse_int` for the Unix times
ko reads from `SOURCE_DATE_EPOCH` and `KO_DATA_DATE_EPOCH`. No Pants imports.
"""

from __future__ import annotations

__all__ = ["unquote", "quoted_prefix", "quote", "quote_rune", "parse_int", "go_bytes", "go_string"]

_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def go_bytes(text: str) -> bytes:
    """The bytes of a Go string held as `str` (invalid bytes as surrogates, see module docstring)."""
    return text.encode("utf-8", "surrogateescape")


def go_string(data: bytes) -> str:
    """A Go string's bytes as `str`, every byte that is not UTF-8 kept as a surrogate."""
    return data.decode("utf-8", "surrogateescape")


def _rune(data: bytes, i: int) -> tuple[int | None, int]:
    """Go's utf8.DecodeRune at `i`: (code point, width); (None, 1) for a byte that is not UTF-8."""
    lead = data[i]
    if lead < 0x80:
        return lead, 1
    for width in (2, 3, 4):
        try:
            return ord(data[i : i + width].decode("utf-8")), width
        except UnicodeDecodeError:
            continue
    return None, 1


def _unquote_char(data: bytes, i: int, quote: int) -> tuple[bytes, int]:
    """Go's UnquoteChar: the bytes of one (possibly escaped) character at `i`, and the next index."""
    c = data[i]
    if c == quote and quote in b"'\"":
        raise ValueError("invalid syntax")
    if c >= 0x80:
        rune, width = _rune(data, i)
        return ("\ufffd" if rune is None else chr(rune)).encode("utf-8"), i + width
    if c != ord("\\"):
        return bytes([c]), i + 1
    if i + 1 >= len(data):
        raise ValueError("invalid syntax")
    e = chr(data[i + 1])
    i += 2
    if e in _SIMPLE_ESCAPES:
        return bytes([_SIMPLE_ESCAPES[e]]), i
    if e in _HEX_WIDTH:
        digits = data[i : i + _HEX_WIDTH[e]]
        if len(digits) != _HEX_WIDTH[e] or not all(d in _HEX_DIGITS for d in digits):
            raise ValueError("invalid syntax")
        value = int(digits, 16)
        if e == "x":
            return bytes([value]), i + 2  # one byte, possibly not UTF-8
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise ValueError("invalid syntax")
        return chr(value).encode("utf-8"), i + len(digits)
    if e in "01234567":
        digits = data[i - 1 : i + 2]
        if len(digits) != 3 or not all(48 <= d <= 55 for d in digits) or int(digits, 8) > 255:
            raise ValueError("invalid syntax")
        return bytes([int(digits, 8)]), i + 2
    if e in "'\"" and ord(e) == quote:
        return bytes([quote]), i
    raise ValueError("invalid syntax")


def _unquote(data: bytes, unescape: bool) -> tuple[bytes, bytes]:
    """Go's unquote: (the value, or the literal itself when not `unescape`; what follows it)."""
    if len(data) < 2:
        raise ValueError("invalid syntax")
    quote = data[0]
    end = data.find(bytes([quote]), 1)
    if end < 0:
        raise ValueError("invalid syntax")
    end += 1  # the index after the (optimistic) terminating quote
    if quote == ord("`"):
        literal = data[:end]
        return (literal[1:-1].replace(b"\r", b"") if unescape else literal), data[end:]
    if quote not in b"'\"":
        raise ValueError("invalid syntax")
    out = bytearray()
    i = 1
    while i < len(data) and data[i] != quote:
        if data[i] == ord("\n"):
            raise ValueError("invalid syntax")
        char, i = _unquote_char(data, i, quote)
        out += char
        if quote == ord("'"):
            break  # a character literal holds one character
    if i >= len(data) or data[i] != quote:
        raise ValueError("invalid syntax")
    return (bytes(out) if unescape else data[: i + 1]), data[i + 1 :]


def unquote(text: str) -> str:
    """Go's `strconv.Unquote` of a `"..."`, `` `...` `` or `'c'` literal; ValueError if it is not one."""
    value, rest = _unquote(go_bytes(text), unescape=True)
    if rest:
        raise ValueError("invalid syntax")
    return go_string(value)


def quoted_prefix(text: str) -> str:
    """Go's `strconv.QuotedPrefix`: the quoted literal `text` starts with; ValueError if none."""
    literal, _ = _unquote(go_bytes(text), unescape=False)
    return go_string(literal)


def _printable(rune: int) -> bool:
    # Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and U+0020. Python's
    # isprintable() is the same set (it excludes other separators and C* categories), up to
    # the Unicode version of each.
    return chr(rune).isprintable()


def _escaped_rune(rune: int, quote_char: str) -> str:
    """Go's appendEscapedRune: the rune as it appears inside a literal quoted with `quote_char`."""
    if rune in (ord(quote_char), ord("\\")):
        return "\\" + chr(rune)
    if _printable(rune):
        return chr(rune)
    if chr(rune) in "\a\b\f\n\r\t\v":
        return {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}[rune]
    if rune < 0x20 or rune == 0x7F:
        return f"\\x{rune:02x}"
    if rune < 0x10000:
        return f"\\u{rune:04x}"
    return f"\\U{rune:08x}"


def quote(text: str) -> str:
    """Go's `strconv.Quote` (and `%q` of a string): a double-quoted literal, escapes for what is not printable."""
    data = go_bytes(text)
    out = ['"']
    i = 0
    while i < len(data):
        rune, width = _rune(data, i)
        out.append(f"\\x{data[i]:02x}" if rune is None else _escaped_rune(rune, '"'))
        i += width
    out.append('"')
    return "".join(out)


def quote_rune(rune: int) -> str:
    """Go's `strconv.QuoteRune` (and `%q` of an integer): a single-quoted character literal."""
    if not 0 <= rune <= 0x10FFFF or 0xD800 <= rune <= 0xDFFF:
        rune = 0xFFFD
    return "'" + _escaped_rune(rune, "'") + "'"


def _underscore_ok(text: str) -> bool:
    """Go's underscoreOK: `_` only between digits (a base prefix counts as a digit)."""
    saw = "^"
    i = 0
    if text[:1] in ("+", "-"):
        text = text[1:]
    is_hex = False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i, saw, is_hex = 2, "0", text[1].lower() == "x"
    for c in text[i:]:
        if "0" <= c <= "9" or (is_hex and "a" <= c.lower() <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def parse_int(text: str, base: int = 10, bits: int = 64) -> int:
    """Go's `strconv.ParseInt(text, base, bits)` for base 10, or 0 (Go literal syntax).

    Base 10: an optional sign and ASCII digits, nothing else (Python's `int()` also takes
    spaces, `_` and non-ASCII digits). Base 0: also the prefixes `0b`, `0o`, `0x` and a
    leading `0` for octal, with `_` between digits. ValueError says "invalid syntax" or
    "value out of range", as Go's errors do.
    """
    if base not in (0, 10):
        raise ValueError(f"base {base} is not supported")
    digits = text[1:] if text[:1] in ("+", "-") else text
    radix = 10
    if base == 0 and digits[:1] == "0" and len(digits) > 1:
        prefix = digits[1].lower() if len(digits) >= 3 else ""
        radix, digits = {"b": (2, digits[2:]), "o": (8, digits[2:]), "x": (16, digits[2:])}.get(prefix, (8, digits[1:]))
    if base == 0 and "_" in digits:
        if not _underscore_ok(text):
            raise ValueError("invalid syntax")
        digits = digits.replace("_", "")
    allowed = "0123456789abcdef"[:radix]
    if not digits or not all(c in allowed for c in digits.lower()):
        raise ValueError("invalid syntax")
    value = int(digits, radix) * (-1 if text[:1] == "-" else 1)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError("value out of range")
    return value
