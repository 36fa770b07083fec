"""`go version -m` parsing from real Go binaries, checked against Go's own `debug.ParseBuildInfo`.

The sample program (:func:`build_sample`) is a module with a third-party dependency fetched
through the Go module proxy (github.com/google/uuid v1.6.0), a dependency replaced by another
version (github.com/google/go-cmp v0.6.0 => v0.5.9) and one replaced by a local directory.
`elfbuildinfo_test.py`, `oci/spdx_test.py` and tests/test_sbom.py build it too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.peers.go_reference import go_env, go_stdlib

from pants_backend_ko.golang.gobuildinfo import GoBuildInfoError, parse_go_version_m

GO_TIMEOUT = 900

APP_GO_MOD = """module example.com/sbomapp

go 1.22

require (
\texample.com/localdep v0.0.0
\tgithub.com/google/go-cmp v0.6.0
\tgithub.com/google/uuid v1.6.0
)

replace example.com/localdep => ../localdep

replace github.com/google/go-cmp => github.com/google/go-cmp v0.5.9
"""
APP_MAIN = """package main

import (
\t"fmt"

\t"example.com/localdep"
\t"github.com/google/go-cmp/cmp"
\t"github.com/google/uuid"
)

func main() {
\tfmt.Println(localdep.Hello(), uuid.NewString(), cmp.Equal(1, 1))
}
"""
LOCALDEP_GO_MOD = "module example.com/localdep\n\ngo 1.22\n"
LOCALDEP_GO = 'package localdep\n\nfunc Hello() string { return "hello" }\n'


def write_sample(root: Path) -> Path:
    """The sample module tree under ``root``; returns the app directory."""
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "localdep").mkdir(parents=True, exist_ok=True)
    (root / "app" / "go.mod").write_text(APP_GO_MOD)
    (root / "app" / "main.go").write_text(APP_MAIN)
    (root / "localdep" / "go.mod").write_text(LOCALDEP_GO_MOD)
    (root / "localdep" / "dep.go").write_text(LOCALDEP_GO)
    return root / "app"


def build_sample(root: Path, *extra_flags: str, output: str = "sbomapp", goarch: str = "") -> tuple[Path, str]:
    """Build the sample (``go mod tidy`` through the proxy, then ``go build``): (binary, go.sum)."""
    app = write_sample(root)
    env = go_env(offline=False)
    if goarch:
        env.update(GOOS="linux", GOARCH=goarch)
    subprocess.run(["go", "mod", "tidy"], cwd=app, env=env, check=True, capture_output=True, timeout=GO_TIMEOUT)
    binary = root / output
    subprocess.run(
        ["go", "build", *extra_flags, "-o", str(binary), "."],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
        timeout=GO_TIMEOUT,
    )
    return binary, (app / "go.sum").read_text()


def go_version_m(binary: Path) -> str:
    return subprocess.run(
        ["go", "version", "-m", str(binary)],
        env=go_env(offline=True),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def go_sum_hashes(go_sum: str) -> dict[tuple[str, str], str]:
    """(module, version) -> h1 hash of the module zip (not the /go.mod lines), from go.sum."""
    out = {}
    for line in go_sum.splitlines():
        module, version, h1 = line.split()
        if not version.endswith("/go.mod"):
            out[(module, version)] = h1
    return out


def go_parse_build_info(text: str) -> dict:
    """Go's own parser (ko's massageGoVersionM, then debug.ParseBuildInfo), as JSON."""
    [(out, error)] = go_stdlib("debug.ParseBuildInfo", [[text]])
    if error:
        raise RuntimeError(error)
    return json.loads(out)


def _from_go(module: dict) -> dict:
    """Go's debug.Module as JSON (Sum and Replace are omitempty) with every key present."""
    replace = module.get("Replace")
    return {
        "Path": module["Path"],
        "Version": module["Version"],
        "Sum": module.get("Sum", ""),
        "Replace": _from_go(replace) if replace else None,
    }


def _as_go(module) -> dict:
    out = {"Path": module.path, "Version": module.version, "Sum": module.sum, "Replace": None}
    if module.replace is not None:
        out["Replace"] = _as_go(module.replace)
    return out


_BUILT: dict[int, tuple[Path, str, str]] = {}


def built_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(binary, go.sum text, `go version -m` output) of the sample built with -trimpath, once a session."""
    key = id(tmp_path_factory)  # one factory per session
    if key not in _BUILT:
        binary, go_sum = build_sample(tmp_path_factory.mktemp("sbom-sample"), "-trimpath")
        _BUILT[key] = (binary, go_sum, go_version_m(binary))
    return _BUILT[key]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, str, str]:
    return built_sample(tmp_path_factory)


# --------------------------------------------------------------------------- parsing


def test_parse_real_go_version_m(sample) -> None:
    binary, go_sum, text = sample
    info = parse_go_version_m(text)
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], env=go_env(offline=True), capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert (info.binary, info.go_version, info.path) == (str(binary), go_version, "example.com/sbomapp")
    assert info.main is not None and (info.main.path, info.main.version, info.main.sum) == (
        "example.com/sbomapp",
        "(devel)",
        "",
    )
    sums = go_sum_hashes(go_sum)
    deps = {d.path: d for d in info.deps}
    assert sorted(deps) == ["example.com/localdep", "github.com/google/go-cmp", "github.com/google/uuid"]
    uuid = deps["github.com/google/uuid"]
    assert (uuid.version, uuid.sum, uuid.replace) == ("v1.6.0", sums[("github.com/google/uuid", "v1.6.0")], None)
    cmp = deps["github.com/google/go-cmp"]
    assert (cmp.version, cmp.sum) == ("v0.6.0", "")
    assert cmp.replace is not None
    assert (cmp.replace.path, cmp.replace.version) == ("github.com/google/go-cmp", "v0.5.9")
    assert cmp.replace.sum == sums[("github.com/google/go-cmp", "v0.5.9")]
    local = deps["example.com/localdep"]
    assert local.replace is not None and (local.replace.path, local.replace.version, local.replace.sum) == (
        "../localdep",
        "(devel)",
        "",
    )
    assert info.setting("GOOS") == "linux" and info.setting("CGO_ENABLED") == "0"
    assert info.setting("-trimpath") == "true" and info.setting("nonexistent") is None


def test_parse_matches_go_debug_parse_build_info(sample, tmp_path) -> None:
    # A second build without -trimpath records quoted -ldflags and -tags: Go quotes them.
    binary, _ = build_sample(tmp_path, '-ldflags=-s -w -X "main.v=a\'b c"', "-tags=x y", output="quoted")
    for text in (sample[2], go_version_m(binary)):
        ours = parse_go_version_m(text)
        theirs = go_parse_build_info(text)
        assert theirs["Path"] == ours.path
        assert _from_go(theirs["Main"]) == _as_go(ours.main)
        assert [_from_go(d) for d in theirs["Deps"]] == [_as_go(d) for d in ours.deps]
        assert [(s["Key"], s["Value"]) for s in theirs["Settings"]] == list(ours.settings)
    quoted = parse_go_version_m(go_version_m(binary))
    assert quoted.setting("-ldflags") == '-s -w -X "main.v=a\'b c"'
    assert '"' in go_version_m(binary)  # really quoted in the input


@pytest.mark.parametrize(
    "text, problem",
    [
        ("x: go1.26\n\tdep\ta\tb\tc\td\n", "line 2: a dep line needs 2 or 3 tab-separated columns, got 4"),
        ("x: go1.26\n\t=>\ta\tb\tc\n", "line 2: a replacement (=>) line does not follow a mod or dep line"),
        ("x: go1.26\n\tpath\tp\n\tbuild\tk=a b\n", "line 3: the value of build setting 'k' must be quoted"),
        ("x: go1.26\n\tpath\tp\n\tbuild\t=v\n", "line 3: a build line has an empty key"),
        ('x: go1.26\n\tpath\tp\n\tbuild\t"k\n', "line 3: a build line has an invalid quoted key"),
        ("x: go1.26\n\tpath\tp\ny: go1.26\n", "line 3: a second '<binary>: go<version>' header"),
        ("x: not a go binary\n", "line 1: expected '<binary>: go<version>'"),
        ("x: go1.26\n", "no build information"),
    ],
)
def test_parse_errors_are_one_line(text: str, problem: str) -> None:
    with pytest.raises(GoBuildInfoError) as info:
        parse_go_version_m(text)
    message = str(info.value)
    assert problem in message and "\n" not in message


def test_parse_agrees_with_go_on_error_cases() -> None:
    # Go rejects the same malformed inputs (checked against the real parser, not assumed).
    texts = ["x: go1.26\n\tdep\ta\tb\tc\td\n", "x: go1.26\n\tpath\tp\n\tbuild\tk=a b\n"]
    for (_, error), text in zip(go_stdlib("debug.ParseBuildInfo", [[t] for t in texts]), texts):
        assert "could not parse Go build info" in error, text
