"""The header reader against Go itself: every file here is also given to `go list`, and the
package name, imports, embed patterns and build-constraint decisions must agree."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pants_backend_ko.gosrc.source import (
    ConstraintError,
    evaluate,
    list_stub,
    parse_go_build,
    read_header,
    satisfiable_without_ignore,
)

# One file per package folder, so `go list` reports exactly that file's imports and patterns.
FILES = {
    "imports": """// Package imports has every import form.
package imports

import "fmt"
import (
	x "os"; . "strings"
	_ "net/http" // a comment
	/* a block comment */ "sort"
)
import `path`

func f() { fmt.Println(x.Args, ToUpper(""), sort.Ints, path.Base) }
""",
    "cgo": """package cgo

/*
#include <stdio.h>
import "notreal"
*/
import "C"

import "fmt"
""",
    "embeds": """package embeds

import (
	_ "embed"
	"strings"
)

//go:embed "a b.txt" `c.txt` d/*.txt
var s string

//go:embed  all:e
var t string

//go:embedded notapattern.txt
var u = "//go:embed notinastring.txt"
var r = '"'
/* //go:embed notinablockcomment.txt */
var v = `//go:embed notinarawstring.txt`
""",
    "noembedimport": """package noembedimport

//go:embed ignored.txt
var s string
""",
    "constrained": """// Copyright notice.

//go:build linux && (amd64 || arm64) && !cgo

package constrained

import "os"
""",
    "plusbuild": """// +build darwin,!cgo freebsd

package plusbuild

import "os"
""",
    "doccomment": """//go:build windows
// Package doccomment: the constraint is still read (no blank line needed for //go:build).
package doccomment
""",
    "stopsatcode": """package stopsatcode

import "fmt"

var x = 1

import "os"
""",
    "bom": '\ufeffpackage bom\n\nimport "fmt"\n',
}
EMBED_FILES = ("embeds/a b.txt", "embeds/c.txt", "embeds/d/e.txt", "embeds/e/f.txt")


def go_list(root: Path, env: dict[str, str], *args: str) -> dict[str, dict]:
    full_env = {**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local", "GOENV": "off", "GOPROXY": "off", **env}
    result = subprocess.run(
        ["go", "list", "-e", "-json", *args, "./..."], cwd=root, env=full_env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    decoder, text, pos = json.JSONDecoder(), result.stdout.decode(), 0
    out: dict = {}
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = decoder.raw_decode(text, pos)
        out[obj["ImportPath"].rsplit("/", 1)[-1]] = obj


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "go.mod").write_text("module example.com/corpus\n\ngo 1.22\n")
    for name, source in FILES.items():
        (root / name).mkdir()
        (root / name / f"{name}.go").write_text(source, encoding="utf-8")
    for rel in EMBED_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    return root


def header(corpus: Path, name: str):
    return read_header((corpus / name / f"{name}.go").read_bytes())


def test_names_imports_and_embed_patterns_match_go_list(corpus: Path) -> None:
    # cgo on and every constraint satisfied, so that go list reads every file's imports.
    listed = go_list(corpus, {"CGO_ENABLED": "1", "GOOS": "linux", "GOARCH": "amd64"}, "-tags=windows,darwin")
    for name in FILES:
        ours = header(corpus, name)
        theirs = listed.get(name, {})
        if not theirs.get("GoFiles") and not theirs.get("CgoFiles"):
            continue  # excluded here (checked by the constraint test)
        assert ours.package == theirs["Name"], name
        assert sorted(set(ours.imports)) == theirs.get("Imports", []), name
        assert sorted(set(ours.embed_patterns)) == sorted(theirs.get("EmbedPatterns", [])), name
    assert header(corpus, "cgo").uses_cgo
    assert header(corpus, "stopsatcode").imports == ("fmt",)


@pytest.mark.parametrize(
    "env,tags",
    [
        ({"GOOS": "linux", "GOARCH": "amd64", "CGO_ENABLED": "0"}, {"linux", "amd64", "unix", "gc"}),
        ({"GOOS": "linux", "GOARCH": "amd64", "CGO_ENABLED": "1"}, {"linux", "amd64", "unix", "gc", "cgo"}),
        ({"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0"}, {"linux", "arm64", "unix", "gc"}),
        ({"GOOS": "darwin", "GOARCH": "arm64", "CGO_ENABLED": "0"}, {"darwin", "arm64", "unix", "gc"}),
        ({"GOOS": "freebsd", "GOARCH": "amd64", "CGO_ENABLED": "0"}, {"freebsd", "amd64", "unix", "gc"}),
        ({"GOOS": "windows", "GOARCH": "386", "CGO_ENABLED": "0"}, {"windows", "386", "gc"}),
    ],
)
def test_constraints_decide_as_go_does(corpus: Path, env: dict, tags: set) -> None:
    listed = go_list(corpus, env)
    for name in ("constrained", "plusbuild", "doccomment", "imports"):
        ours = header(corpus, name)
        expr = ours.constraint
        built = expr is None or evaluate(expr, tags.__contains__)
        theirs = bool(listed.get(name, {}).get("GoFiles"))  # ./... skips excluded packages
        assert built == theirs, (name, env)


def test_parse_go_build_grammar() -> None:
    expr = parse_go_build("//go:build !(linux || darwin) && go1.21")
    assert evaluate(expr, {"windows", "go1.21"}.__contains__)
    assert not evaluate(expr, {"linux", "go1.21"}.__contains__)
    for bad in ("//go:build", "//go:build linux &&", "//go:build (linux", "//go:build linux darwin"):
        with pytest.raises(ConstraintError):
            parse_go_build(bad)


def test_ignore_means_never_built() -> None:
    assert not read_header(b"//go:build ignore\n\npackage main\n").buildable_somewhere()
    assert not read_header(b"// +build ignore\n\npackage main\n").buildable_somewhere()
    assert read_header(b"//go:build !ignore\n\npackage main\n").buildable_somewhere()
    assert read_header(b"//go:build tools\n\npackage tools\n").buildable_somewhere()
    assert not satisfiable_without_ignore(parse_go_build("//go:build linux && !linux"))


def test_unreadable_package_clause() -> None:
    assert read_header(b"packag main\n").package is None
    assert read_header(b"").package is None


LISTED_FIELDS = (
    "Name",
    "Imports",
    "GoFiles",
    "CgoFiles",
    "IgnoredGoFiles",
    "InvalidGoFiles",
    "EmbedPatterns",
    "EmbedFiles",
    "Deps",
    "Error",
    "DepsErrors",
    "TestGoFiles",
    "TestImports",
)


@pytest.mark.parametrize("cgo", ["0", "1"])
def test_go_list_answers_the_same_for_stubs(corpus: Path, tmp_path: Path, cgo: str) -> None:
    # go list reads a stub (the file up to its imports, and its //go:embed lines) as it reads the file.
    stubbed = tmp_path / "stubbed"
    stubbed.mkdir()
    for path in corpus.rglob("*"):
        target = stubbed / path.relative_to(corpus)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".go":
            target.write_bytes(list_stub(path.read_bytes()))
        else:
            target.write_bytes(b"" if path.name != "go.mod" else path.read_bytes())
    extra = {
        "bodies/bodies.go": 'package bodies\n\nimport "os"\n\nfunc F() string {\n\treturn os.Args[0] + "\\x"\n}\n',
        "bodies/bodies_test.go": 'package bodies\n\nimport "testing"\n\nfunc TestF(t *testing.T) {}\n',
        "broken/broken.go": 'package broken\n\nimport (\n\t"fmt"\n',
    }
    for rel, text in extra.items():
        for root in (corpus, stubbed):
            (root / rel).parent.mkdir(exist_ok=True)
        (corpus / rel).write_text(text)
        (stubbed / rel).write_bytes(list_stub(text.encode()))
    env = {"CGO_ENABLED": cgo, "GOOS": "linux", "GOARCH": "amd64"}

    def listing(root: Path) -> dict:
        return {name: {f: p.get(f) for f in LISTED_FIELDS} for name, p in go_list(root, env, "-deps").items()}

    try:
        assert listing(stubbed) == listing(corpus)
    finally:
        for rel in extra:
            (corpus / rel).unlink()
    assert len(list_stub(FILES["embeds"].encode())) < len(FILES["embeds"])
    assert list_stub(b"package broken\n\nimport (\n") == b"package broken\n\nimport (\n"  # kept whole
