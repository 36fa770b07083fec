"""gotemplate against Go's own `text/template` (a stdlib Go program, built offline).

Each case is a template and JSON data; tests/peers/go_reference.py turns the data into Go
values (integers are int64, an object of strings a map[string]string, any other object a
map[string]interface{}) and `_go_data` below into the same values here. Go renders with
`Option("missingkey=error")`, as ko does; output and success must agree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.peers.go_reference import go_stdlib

from pants_backend_ko.golang import gotemplate
from pants_backend_ko.golang.gostrconv import go_bytes

DATA = {
    "S": "text",
    "Empty": "",
    "Unicode": "héllo 日本",
    "N": 42,
    "Zero": 0,
    "T": True,
    "F": False,
    "Strings": {"b": "2", "a": "1", "amp": "a&b"},
    "Mixed": {"s": "x", "n": 1, "nil": None, "inner": {"k": "v"}},
    "Nil": None,
}

CASES = [
    "plain text, no actions",
    "{{.S}} {{.N}} {{.T}} {{.F}} {{.Unicode}}",
    "{{ .Strings.a }}{{ $.Strings.b }}{{ .Mixed.inner.k }}",
    "{{ .Strings }} {{ .Mixed }}",
    '{{ .Nil }}|{{ .Mixed.nil }}|{{ print .Nil }}|{{ index .Mixed "nil" }}|{{ index .Mixed "absent" }}',
    '[{{ index .Strings "absent" }}]',
    "a  {{- .S -}}  b {{- /* comment */ -}} c {{/* kept space */}} d",
    '{{ "esc \\t \\x41 \\101 \\u00e9 \\U0001F600 \\\\ \\"" }}',
    "{{ `raw \\n \r kept` }}",
    '{{ "\\xff" | printf "%q" }}',
    "{{ 0x1F }} {{ 1_000 }} {{ -3 }} {{ +4 }} {{ 0o17 }} {{ 017 }}",
    "{{ if .T }}yes{{ end }}{{ if .F }}no{{ else if .Empty }}no{{ else if .N }}n{{ else }}no{{ end }}",
    "{{ if .Strings }}map{{ end }}{{ if .Zero }}zero{{ else }}not zero{{ end }}",
    '{{ and .T .N "last" }} {{ and .T .Zero .N }} {{ or .F .Empty .S }} {{ or .F .Zero }} {{ and 1 }}',
    "{{ not .T }} {{ not .Empty }} {{ not .Strings }} {{ not .Nil }}",
    '{{ eq .S "x" "text" }} {{ eq .N 42 }} {{ ne .S "y" }} {{ lt 1 2 }} {{ le .N 42 }} {{ gt "b" "a" }} {{ ge 1 2 }}',
    '{{ len .S }} {{ len .Unicode }} {{ len .Strings }} {{ len "" }}',
    '{{ index .S 0 }} {{ index .Unicode 1 }} {{ index .Strings "a" }} {{ index . "Strings" "b" }}',
    '{{ .S | printf "%s-%s" "p" }}',
    '{{ (printf "%s" .S) }} {{ (index . "Strings").a }} {{ ((.S)) }}',
    "{{ .S.X }}",
    "{{ .Absent }}",
    "{{ .Strings.absent }}",
    "{{ .N.X }}",
    "{{ index .S 10 }}",
    "{{ index .N 0 }}",
    "{{ eq .S 1 }}",
    "{{ lt .T .F }}",
    "{{ len .N }}",
    '{{ "\\q" }}',
    "{{ '\\'' }} {{ 'a' }} {{ '\\xff' }} {{ '\\377' }} {{ 'é' }} {{ '\\u65e5' }} {{ printf \"%q\" 'x' }}",
    "{{ 'ab' }}",
    "{{ .S",
    "{{ end }}",
    "{{ if .T }}",
]


def _go_data(value: Any) -> Any:
    """The Go values go_reference's templateData makes of decoded JSON."""
    if isinstance(value, dict):
        if value and all(isinstance(v, str) for v in value.values()):
            return gotemplate.GoMap(value, "")
        return gotemplate.GoMap({k: _go_data(v) for k, v in value.items()}, None)
    return value


def _ours(template: str, data: Any) -> tuple[bytes, bool]:
    try:
        return go_bytes(gotemplate.parse(template).execute(_go_data(data))), True
    except gotemplate.TemplateError as e:
        assert "\n" not in str(e)
        return b"", False


def _go(cases: list[tuple[str, Any]]) -> list[tuple[bytes, bool]]:
    return [(out, not err) for out, err in go_stdlib("text/template", [[t, json.dumps(d)] for t, d in cases])]


def _unsupported(template: str) -> bool:
    try:
        gotemplate.parse(template).execute(_go_data(DATA))
    except gotemplate.TemplateError as e:
        return "unsupported template construct" in str(e)
    return False


def test_templates_render_exactly_as_go() -> None:
    expected = _go([(t, DATA) for t in CASES])
    ours = [_ours(t, DATA) for t in CASES]
    assert [(t, *o) for t, o in zip(CASES, ours)] == [(t, *e) for t, e in zip(CASES, expected)]


def _nested_parens(depth: int) -> str:
    return "{{ " + "(" * depth + ".S" + ")" * depth + " }}"


def _nested_ifs(depth: int) -> str:
    return "{{ if .T }}" * depth + "deep" + "{{ end }}" * depth


def test_nesting_up_to_the_limit_renders_as_go() -> None:
    cases = [_nested_parens(gotemplate.MAX_DEPTH), _nested_ifs(gotemplate.MAX_DEPTH)]
    expected = _go([(t, DATA) for t in cases])
    assert [_ours(t, DATA) for t in cases] == expected == [(b"text", True), (b"deep", True)]


def test_deeper_nesting_fails_with_gos_message_on_one_short_line() -> None:
    [(_, go_error)] = go_stdlib("text/template", [[_nested_parens(10001), "{}"]])
    assert "max expression depth exceeded" in go_error
    for template in (
        _nested_parens(gotemplate.MAX_DEPTH + 1),
        _nested_ifs(gotemplate.MAX_DEPTH + 1),
        _nested_parens(100_000),
        _nested_ifs(20_000),
        "{{ if .T }}" * 60 + _nested_parens(60) + "{{ end }}" * 60,
    ):
        with pytest.raises(gotemplate.TemplateError) as info:
            gotemplate.parse(template, where="//cmd/app:img ldflags")
        message = str(info.value)
        assert message.startswith("//cmd/app:img ldflags: template '{{ ")
        assert "max expression depth exceeded" in message and "flatten the template" in message
        assert "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    "template",
    [
        "{{ range .Strings }}x{{ end }}",
        "{{ with .S }}{{ . }}{{ end }}",
        '{{ define "x" }}y{{ end }}',
        '{{ template "x" }}',
        "{{ $v := .S }}",
        "{{ html .S }}",
        '{{ printf "%x" .N }}',
        '{{ printf "%5s" .S }}',
        "{{ 1.5 }}",
        "{{ nil }}",
    ],
)
def test_constructs_outside_the_subset_are_named(template: str) -> None:
    assert _unsupported(template)
