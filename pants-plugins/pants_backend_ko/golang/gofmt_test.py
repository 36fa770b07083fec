"""gofmt against Go's own `fmt`, reached through `print` and `printf` in Go's `text/template`.

The data and helpers are gotemplate_test's: Go's template calls fmt.Sprint / fmt.Sprintf with
the same Go values that `gotemplate` hands to `gofmt.sprint` / `gofmt.sprintf`.
"""

from __future__ import annotations

import pytest

from pants_backend_ko.golang import gofmt
from pants_backend_ko.golang.gotemplate_test import DATA, _go, _ours

CASES = [
    '{{ print 1 2 "a" 3 "b" "c" .T .N }}|{{ print }}|{{ print .Nil .Nil }}',
    '{{ printf "%s|%v|%d|%q|%t|%%" .S .N .N .S .T }}',
    '{{ printf "%d %s %t %q" .S .N .S .T }}',
    '{{ printf "%q %q %v" .N (index .S 0) (index .S 0) }}',
    '{{ printf "%v %s %d" .Strings .Strings .Strings }}',
    '{{ printf "%v|%s|%d" .Mixed .Mixed .Mixed }}',
    '{{ printf "%s %d" .Nil .Nil }}|{{ printf "%v" .Nil }}',
    '{{ printf "%s %s" .S }}|{{ printf "x" .S .N .Nil }}|{{ printf "%" }}|{{ printf "a%" .S }}',
    '{{ printf "%v %v %v" .T .Zero .Empty }}|{{ printf "%q" .Unicode }}|{{ printf "%d" .T }}',
    '{{ printf "%t %s" .N (index .S 1) }}|{{ printf "%q" .Strings }}',
]


def test_print_and_printf_match_go() -> None:
    expected = _go([(t, DATA) for t in CASES])
    ours = [_ours(t, DATA) for t in CASES]
    assert [(t, *o) for t, o in zip(CASES, ours)] == [(t, *e) for t, e in zip(CASES, expected)]


def test_type_names_and_unsupported_verbs() -> None:
    assert [gofmt.type_name(v) for v in (True, 1, gofmt.Uint8(1), "s", {}, None)] == [
        "bool",
        "int64",
        "uint8",
        "string",
        "map[string]interface {}",
        "<nil>",
    ]
    with pytest.raises(gofmt.UnsupportedVerb, match="^%x$"):
        gofmt.sprintf("%x", [1])
