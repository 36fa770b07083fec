"""Go's `fmt` printing for the values templates handle (`src/fmt/print.go`, `format.go`).

Values are Go values held in Python: `bool`, `int` (Go's `int64`), `Uint8` (a byte, what
`index` of a string gives), `str`, `None` (a nil interface) and mappings (Go maps;
`gotemplate.GoMap` knows its element type). Supported: `Sprint` (`sprint`), the `%v` form of
one value (`format_value`), and `Sprintf` (`sprintf`) with the verbs `%v %s %d %q %t %%`,
no flags or widths. A verb that does not fit the value is written as Go writes it
(`%!d(string=x)`), as are missing and extra arguments. Go's type names (`type_name`) are the
ones `%T` and these messages show.

No Pants imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pants_backend_ko.golang.gostrconv import quote, quote_rune

__all__ = ["Uint8", "UnsupportedVerb", "type_name", "format_value", "sprint", "sprintf", "SUPPORTED_VERBS"]

SUPPORTED_VERBS = "vsdqt"


class Uint8(int):
    """Go's `uint8` (`byte`), e.g. the result of `index` on a string."""


class UnsupportedVerb(ValueError):
    """A `printf` verb (or flag, width, precision) this package does not implement."""

    def __init__(self, verb: str) -> None:
        super().__init__(f"%{verb}")
        self.verb = verb


def type_name(value: Any) -> str:
    """Go's name of the value's type, as `%T` prints it (`<nil>` for a nil interface)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Uint8):
        return "uint8"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        element = getattr(value, "element_type", None)
        return f"map[string]{element}" if element else "map[string]interface {}"
    return "<nil>"


def format_value(value: Any, verb: str = "v") -> str:
    """Go's printValue of one operand with `verb` (one of `SUPPORTED_VERBS` but `%`)."""
    if value is None:
        return "<nil>" if verb == "v" else f"%!{verb}(<nil>)"
    if isinstance(value, bool):
        if verb in "vt":
            return "true" if value else "false"
    elif isinstance(value, int):
        if verb in "vd":
            return str(int(value))
        if verb == "q":
            return quote_rune(value)
    elif isinstance(value, str):
        if verb in "vs":
            return value
        if verb == "q":
            return quote(value)
    elif isinstance(value, Mapping):
        # fmt sorts map keys and applies the verb to each key and element; a nil element of
        # an interface map is <nil> whatever the verb.
        items = " ".join(
            f"{format_value(k, verb)}:{'<nil>' if value[k] is None else format_value(value[k], verb)}"
            for k in sorted(value)
        )
        return f"map[{items}]"
    return f"%!{verb}({type_name(value)}={format_value(value)})"


def sprint(args: Sequence[Any]) -> str:
    """Go's `fmt.Sprint`: operands in `%v` form, a space between two that are not strings."""
    out = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintf(format_text: str, args: Sequence[Any]) -> str:
    """Go's `fmt.Sprintf` for the verbs in `SUPPORTED_VERBS`; `UnsupportedVerb` for anything else."""
    out = []
    i = 0
    used = 0
    while i < len(format_text):
        c = format_text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = format_text[i + 1 : i + 2]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            continue
        if verb not in SUPPORTED_VERBS:
            raise UnsupportedVerb(verb)
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(format_value(args[used], verb))
        used += 1
    if used < len(args):
        extra = ", ".join(f"{type_name(a)}={format_value(a)}" if a is not None else "<nil>" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
