"""ko's flags/ldflags templates, checked against Go's own `text/template`.

The parity test builds a small Go program (offline, standard library only) that builds the
template data exactly as ko's `createTemplateData` and `git.Info.TemplateValue` do and renders
with `Option("missingkey=error")`, then compares every output with ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from tests.peers.go_reference import _build, _run

from pants_backend_ko.errors import KoError
from pants_backend_ko.koconfig.gitinfo import GitInfo
from pants_backend_ko.koconfig.templates import (
    ALL_FAMILIES,
    TemplateError,
    parse_go_env,
    render_template,
    render_templates,
    template_data,
    template_env,
    template_keys_used,
    template_needs,
)

GIT = GitInfo(
    branch="feature/x",
    tag="v1.2.3",
    short_commit="abc1234",
    full_commit="abc1234" + "0" * 33,
    commit_timestamp=1700000000,
    dirty=True,
)
BUILD_ENV = ("PATH=/usr/bin", "GOOS=linux", "GOARCH=arm64", "VERSION=1.2.3", "EMPTY=", "EQ=a=b")
GO_ENV = {"GOARCH": "amd64", "GOOS": "linux", "GOROOT": "/usr/lib/go", "GOFLAGS": ""}
EPOCH = 1712345678


def data() -> Mapping[str, Any]:
    return template_data(BUILD_ENV, GO_ENV, GIT.template_value(), EPOCH)


_GO_MAIN = r"""
// Renders templates as ko does: data from createTemplateData + git.Info.TemplateValue.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"text/template"
	"time"
)

type request struct {
	Env       []string          `json:"env"`
	GoEnv     map[string]string `json:"goenv"`
	Git       gitInfo           `json:"git"`
	Epoch     int64             `json:"epoch"`
	Templates []string          `json:"templates"`
}

type gitInfo struct {
	Branch, Tag, ShortCommit, FullCommit string
	CommitUnix                           int64
	Dirty                                bool
}

type result struct {
	Out string `json:"out"`
	Err string `json:"err"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		panic(err)
	}
	envVars := map[string]string{"LDFLAGS": ""}
	for _, entry := range req.Env {
		kv := strings.SplitN(entry, "=", 2)
		envVars[kv[0]] = kv[1]
	}
	goEnv := req.GoEnv
	for k, v := range envVars {
		if _, ok := goEnv[k]; ok {
			goEnv[k] = v
		}
	}
	commitDate := time.Unix(req.Git.CommitUnix, 0).UTC()
	treeState := "clean"
	if req.Git.Dirty {
		treeState = "dirty"
	}
	git := map[string]any{
		"Branch":          req.Git.Branch,
		"Tag":             req.Git.Tag,
		"ShortCommit":     req.Git.ShortCommit,
		"FullCommit":      req.Git.FullCommit,
		"CommitDate":      commitDate.UTC().Format(time.RFC3339),
		"CommitTimestamp": commitDate.UTC().Unix(),
		"IsDirty":         req.Git.Dirty,
		"IsClean":         !req.Git.Dirty,
		"TreeState":       treeState,
	}
	date := time.Unix(req.Epoch, 0)
	data := map[string]any{
		"Env":       envVars,
		"GoEnv":     goEnv,
		"Git":       git,
		"Date":      date.Format(time.RFC3339),
		"Timestamp": date.UTC().Unix(),
	}
	var out []result
	for _, entry := range req.Templates {
		tmpl, err := template.New("argsTmpl").Option("missingkey=error").Parse(entry)
		if err != nil {
			out = append(out, result{Err: err.Error()})
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, data); err != nil {
			out = append(out, result{Err: err.Error()})
			continue
		}
		out = append(out, result{Out: buf.String()})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
"""


def go_render(templates: Sequence[str]) -> list[Mapping[str, str]]:
    binary = _build(
        "koconfig-tmpl", {"go.mod": "module example.com/tmpl\n\ngo 1.22\n", "main.go": _GO_MAIN}, offline=True
    )
    request = {
        "env": list(BUILD_ENV),
        "goenv": GO_ENV,
        "git": {
            "Branch": GIT.branch,
            "Tag": GIT.tag,
            "ShortCommit": GIT.short_commit,
            "FullCommit": GIT.full_commit,
            "CommitUnix": GIT.commit_timestamp,
            "Dirty": GIT.dirty,
        },
        "epoch": EPOCH,
        "templates": list(templates),
    }
    return json.loads(_run(binary, json.dumps(request).encode()))


# Every data field, and the syntax real ko configs use.
SUPPORTED = [
    "-X main.version={{.Env.VERSION}}",
    "{{ .Env.LDFLAGS }}",  # ko's own .ko.yaml
    "{{.Env.EMPTY}}|{{.Env.EQ}}|{{.Env.GOARCH}}",
    "{{.GoEnv.GOARCH}} {{.GoEnv.GOOS}} {{.GoEnv.GOROOT}} [{{.GoEnv.GOFLAGS}}]",
    "-X main.branch={{.Git.Branch}} -X main.tag={{.Git.Tag}}",
    "{{.Git.ShortCommit}} {{.Git.FullCommit}}",
    "{{.Git.CommitDate}} {{.Git.CommitTimestamp}}",
    "{{.Git.IsDirty}} {{.Git.IsClean}} {{.Git.TreeState}}",
    "-X main.date={{.Date}} -X main.ts={{.Timestamp}}",
    "plain text without actions",
    "",
    "a \n\t {{- .Git.Tag -}} \n b",
    "a {{- /* a comment */ -}} b",
    "{{/* comment */}}x{{/*\n multi-line */}}",
    "{{-3}} {{ -3 }}",
    "{{ $.Git.Tag }} {{ $.Env.VERSION }}",
    '{{ index .Env "VERSION" }} [{{ index .Env "MISSING" }}] {{ index .Git "Tag" }}',
    '{{ index .Git "Missing" }}',
    '{{ index . "Git" | len }}',
    '{{ (index . "Git").Branch }}',
    '{{ printf "%s-%s" .Git.Tag .Git.ShortCommit }}',
    '{{ printf "%q %v %d %t %%" .Git.Tag .Git.IsDirty .Timestamp .Git.IsClean }}',
    '{{ printf "%d" .Git.Tag }} {{ printf "%s" }} {{ printf "x" .Git.Tag }}',
    "{{ printf `raw %s` .Git.Branch }}",
    '{{ printf "}}%s{{" .Git.Tag }}',
    '{{ .Git.Tag | printf "v=%s" }}',
    '{{ print .Git.IsDirty .Timestamp "s" 1 2 }}',
    "{{ len .Env.VERSION }} {{ len .GoEnv }}",
    "{{ not .Env.EMPTY }} {{ not .Git.IsDirty }}",
    '{{ and .Git.IsDirty "yes" }} {{ and .Git.IsClean "yes" }} {{ or .Env.EMPTY "fallback" }}',
    '{{ eq .Git.Branch "main" "feature/x" }} {{ ne .Git.TreeState "clean" }} {{ eq .Timestamp 5 }}',
    '{{ lt 1 2 }} {{ ge .Timestamp 0 }} {{ gt .Git.Tag "v1" }} {{ le 3 3 }}',
    "{{ if .Git.IsDirty }}-dirty{{ end }}",
    "{{ .Git.Tag }}{{ if .Git.IsClean }}{{ else }}-{{ .Git.ShortCommit }}-dirty{{ end }}",
    '{{ if eq .Git.Branch "main" }}release{{ else if .Git.IsDirty }}dev{{ else }}other{{ end }}',
    "{{ if .Env.EMPTY }}set{{ else }}{{ if .Git.IsDirty }}nested{{ end }}{{ end }}",
    '{{ "quoted \\"string\\" \\t\\u00e9" }}',
    '{{ "octal \\101 hex \\x41 \\U0001F600" }} {{ printf "%q" "bell\\a nbsp\\u00a0 del\\x7f tab\\t" }}',
    "{{ `raw \\n kept` }}",
    "{{ true }} {{ false }} {{ 0x1F }} {{ 1_000 }}",
    "{{ .Git }}",
    "{{ .Env.VERSION }}{{/* trailing */}}",
    "{{ (.Git).Tag }}",
]

# Go fails these too; we must fail them, with our one-line error.
FAILING = [
    "{{.Env.NOPE}}",
    "{{.Git.Nope}}",
    "{{.Nope}}",
    "{{.Date.Year}}",
    "{{.Git.Tag.X}}",
    "{{ .Env.X",
    "{{ }}",
    "{{ end }}",
    "{{ if .Git.IsDirty }}x",
    "{{ else }}",
    "{{ nosuchfunc .Env }}",
    "{{ eq .Git.Tag 1 }}",
    "{{ .Git.Tag | .Git.Branch }}",
    "{{ .Git.Tag .Git.Branch }}",
    '{{ printf "%s" "unterminated }}',
    "{{ ( .Git.Tag }}",
    "{{/* unclosed comment }}",
]


def test_supported_templates_render_exactly_as_go() -> None:
    expected = go_render(SUPPORTED)
    assert len(expected) == len(SUPPORTED)
    for template, go in zip(SUPPORTED, expected):
        assert go["err"] == "", (template, go["err"])
        assert render_template(template, data()) == go["out"], template


def test_failing_templates_fail_like_go() -> None:
    expected = go_render(FAILING)
    for template, go in zip(FAILING, expected):
        assert go["err"], template
        with pytest.raises(TemplateError) as info:
            render_template(template, data(), where="//cmd/app:img ldflags")
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"//cmd/app:img ldflags: template {template!r}: "), message


def test_missing_key_errors_name_template_and_key() -> None:
    with pytest.raises(TemplateError) as info:
        render_template("-X main.v={{.Env.VERSION_TYPO}}", data(), where="ldflags of //cmd/app")
    assert str(info.value) == (
        "ldflags of //cmd/app: template '-X main.v={{.Env.VERSION_TYPO}}': "
        'map has no entry for key "VERSION_TYPO" (at <.Env.VERSION_TYPO>); set it or remove the reference'
    )
    with pytest.raises(TemplateError) as info:
        render_template("{{.Git.Commit}}", data())
    assert str(info.value) == (
        "template '{{.Git.Commit}}': map has no entry for key \"Commit\" (at <.Git.Commit>); known keys: "
        "Branch, CommitDate, CommitTimestamp, FullCommit, IsClean, IsDirty, ShortCommit, Tag, TreeState"
    )


def test_env_values_do_not_leak_into_errors() -> None:
    secret_data = template_data(["TOKEN=s3cr3t-value"], None, None, None)
    with pytest.raises(TemplateError) as info:
        render_template("{{.Env.TOKEN.X}} {{.Env.NOPE}}", secret_data)
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    "template, construct",
    [
        ("{{ range .Env }}x{{ end }}", "{{range}}"),
        ("{{ with .Git }}{{ .Tag }}{{ end }}", "{{with}}"),
        ('{{ define "x" }}y{{ end }}', "{{define}}"),
        ('{{ template "x" }}', "{{template}}"),
        ("{{ $v := .Git.Tag }}", "(variable $v)"),
        ("{{ html .Env.VERSION }}", "(function 'html')"),
        ('{{ printf "%x" .Timestamp }}', "(printf verb %x)"),
        ("{{ 1.5 }}", "(non-integer number 1.5)"),
        ("{{ nil }}", "('nil' inside an action)"),
    ],
)
def test_other_constructs_are_reported_as_unsupported(template: str, construct: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_template(template, data())
    message = str(info.value)
    assert f"unsupported template construct {construct}" in message
    assert "\n" not in message


def test_template_needs_reports_only_used_families() -> None:
    assert template_needs([]) == set()
    assert template_needs(["-s", "-w", "no {braces}"]) == set()
    assert template_needs(["-X a={{.Env.A}}"]) == {"Env"}
    assert template_needs(["{{.GoEnv.GOOS}}"]) == {"GoEnv"}
    assert template_needs(["{{.Timestamp}}"]) == {"Date"}
    assert template_needs(["{{ .Date }}", "{{ $.Git.Tag }}"]) == {"Date", "Git"}
    assert template_needs(
        ['{{ if .Git.IsDirty }}{{ .Env.X }}{{ else }}{{ printf "%s" (index .GoEnv "A") }}{{ end }}']
    ) == {"Git", "Env", "GoEnv"}
    assert template_needs(['{{ index . "Git" }}']) == set(ALL_FAMILIES)
    assert template_needs(["{{ (.Git).Tag }}"]) == {"Git"}
    with pytest.raises(TemplateError, match=r'^template .\{\{\.Version\}\}.: map has no entry for key "Version"'):
        template_needs(["{{.Version}}"])
    with pytest.raises(TemplateError, match="unclosed action"):
        template_needs(["{{ .Git.Tag"])


def test_data_families_left_out_are_not_computed_and_say_so() -> None:
    only_env = template_data(["A=1"])
    assert render_template("{{.Env.A}}{{.Env.LDFLAGS}}", only_env) == "1"
    with pytest.raises(TemplateError, match=r"\.Git is not available \(its data was not computed\)"):
        render_template("{{.Git.Tag}}", only_env)


def test_render_templates_keeps_items_separate() -> None:
    assert render_templates(["-s -w", "-X main.tag={{.Git.Tag}}"], data()) == ("-s -w", "-X main.tag=v1.2.3")


def test_template_env_and_go_env_parsing() -> None:
    assert template_env(["A=1", "B=x=y", "A=2"]) == {"LDFLAGS": "", "A": "2", "B": "x=y"}
    assert template_env(["LDFLAGS=-s"]) == {"LDFLAGS": "-s"}
    with pytest.raises(KoError, match="invalid environment entry 'NOEQ'"):
        template_env(["NOEQ"])
    output = "AR='ar'\nCC=\"gcc\"\nGOARCH='amd64'\nGOFLAGS=''\nGOEXPERIMENT=''\nCGO_CFLAGS='-O2 -g'\n"
    assert parse_go_env(output) == {
        "AR": "ar",
        "CC": "gcc",
        "GOARCH": "amd64",
        "GOFLAGS": "",
        "GOEXPERIMENT": "",
        "CGO_CFLAGS": "-O2 -g",
    }
    with pytest.raises(KoError, match="go env: cannot parse line 2"):
        parse_go_env("A=1\nbroken\n")


def test_date_is_rfc3339_utc() -> None:
    assert data()["Date"] == "2024-04-05T19:34:38Z" and data()["Timestamp"] == EPOCH


def test_template_keys_used_names_only_the_keys_read() -> None:
    templates = [
        '-X a={{.Env.A}} -X b={{ index .Env "B" }} -X c={{ (.Env).C }} -X f={{ index (.Env) "F" }}',
        '{{ printf "%s" (index .Env "D") | printf "%s" }}{{ if .Env.E }}{{ else if $.Env.G }}{{ end }}',
        "{{ .GoEnv.GOARCH }} {{ .Git.Tag }} plain",
    ]
    assert template_keys_used(templates, "Env") == frozenset({"A", "B", "C", "D", "E", "F", "G"})
    assert template_keys_used(templates, "GoEnv") == frozenset({"GOARCH"})
    assert template_keys_used(templates, "Git") == frozenset({"Tag"})
    assert template_keys_used(["-s -w"], "Env") == frozenset()
    # the whole map (or the whole data) is used: every key
    for whole in ["{{ .Env }}", "{{ len .Env }}", "{{ index .Env .Git.Tag }}", "{{ . }}", '{{ index $ "Env" }}']:
        assert template_keys_used([whole], "Env") is None, whole
