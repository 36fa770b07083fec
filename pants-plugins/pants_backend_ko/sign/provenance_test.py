"""Provenance inputs (the typed message and its codec) and the SLSA v1 predicate made of them
(tests/test_signing.py has the real cosign attest and verify it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pants_backend_ko import VERSION
from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gobuildinfo import parse_go_version_m
from pants_backend_ko.sign.provenance import (
    BUILD_TYPE,
    BaseImageInput,
    BinaryInput,
    ModuleInput,
    ProvenanceInputs,
    SourceInput,
    slsa_predicate,
    strip_url_credentials,
)

GO_VERSION_M = (
    "server: go1.26.8\n"
    "\tpath\texample.com/app/cmd/server\n"
    "\tmod\texample.com/app\t(devel)\t\n"
    "\tdep\tgithub.com/BurntSushi/toml\tv1.3.2\th1:o7IhLm0Msx3BaB+n3Ag7L8EVlByGnpq14C4YWiu/gL8=\n"
    "\tdep\tgolang.org/x/text\tv0.3.0\n"
    "\t=>\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n"
    "\tbuild\t-buildmode=exe\n"
    "\tbuild\t-compiler=gc\n"
    '\tbuild\t-ldflags="-s -w"\n'
    "\tbuild\t-trimpath=true\n"
    "\tbuild\tCGO_ENABLED=0\n"
    "\tbuild\tGOARCH=arm64\n"
    "\tbuild\tGOOS=linux\n"
    "\tbuild\tGOARM64=v8.0\n"
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _inputs(**changes) -> ProvenanceInputs:
    info = parse_go_version_m(GO_VERSION_M)
    fields: dict[str, Any] = dict(
        target="src/go/cmd/server:server",
        go_version="go1.26.8",
        binaries=(BinaryInput.from_build_info(info, "linux/arm64", flags=("-trimpath",), ldflags=("-s", "-w")),),
        base_image=BaseImageInput("cgr.dev/chainguard/static:latest", "sha256:" + "cd" * 32),
        source=SourceInput("https://ci:t0ken@git.example.com/acme/app.git", COMMIT, dirty=True),
        pants_version="2.17.1",
    )
    return ProvenanceInputs(**{**fields, **changes})


def test_binary_input_from_build_info() -> None:
    binary = _inputs().binaries[0]
    assert binary.import_path == "example.com/app/cmd/server"
    assert binary.env == (("CGO_ENABLED", "0"), ("GOARCH", "arm64"), ("GOOS", "linux"), ("GOARM64", "v8.0"))
    # A replaced module is recorded as what was compiled: the replacement.
    assert binary.modules == (
        ModuleInput("github.com/BurntSushi/toml", "v1.3.2", "h1:o7IhLm0Msx3BaB+n3Ag7L8EVlByGnpq14C4YWiu/gL8="),
        ModuleInput("golang.org/x/text", "v0.14.0", "h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ="),
    )


def test_json_codec_round_trip_and_errors() -> None:
    inputs = _inputs()
    assert decode(ProvenanceInputs, encode(inputs), "plan") == inputs
    bare = _inputs(base_image=None, source=None, pants_version="")
    assert decode(ProvenanceInputs, encode(bare), "plan") == bare
    broken = inputs.to_json()
    broken["binaries"][0]["flags"] = "-trimpath"
    with pytest.raises(MessageError, match=r"^plan: binaries\[0\]: flags must be a list, got '-trimpath'$"):
        decode(ProvenanceInputs, json.dumps(broken).encode(), "plan")
    with pytest.raises(MessageError, match=r"^plan: binaries: a provenance names at least one binary$"):
        decode(ProvenanceInputs, json.dumps({**inputs.to_json(), "binaries": []}).encode(), "plan")
    with pytest.raises(MessageError, match="is not a full git commit hash"):
        SourceInput("", "abc123")
    with pytest.raises(MessageError, match="base image x: 'sha256:nope' is not a sha256 digest"):
        BaseImageInput("x", "sha256:nope")


def test_git_credentials_are_never_recorded() -> None:
    assert _inputs().source.repository == "https://git.example.com/acme/app.git"  # type: ignore[union-attr]
    assert strip_url_credentials("https://user:pw@host:8443/x.git") == "https://host:8443/x.git"
    assert strip_url_credentials("git@github.com:acme/app.git") == "git@github.com:acme/app.git"
    assert strip_url_credentials("ssh://git@host/x") == "ssh://host/x"
    assert b"t0ken" not in gojson.dumps(slsa_predicate(_inputs()))


def test_predicate() -> None:
    predicate = slsa_predicate(_inputs())
    definition = predicate["buildDefinition"]
    assert list(predicate) == ["buildDefinition", "runDetails"]
    assert list(definition) == ["buildType", "externalParameters", "internalParameters", "resolvedDependencies"]
    assert definition["buildType"] == BUILD_TYPE
    # Free-form maps come out with sorted keys (Go's map order after cosign's decode/encode).
    assert list(definition["externalParameters"]) == ["baseImage", "builds", "source", "target"]
    assert definition["externalParameters"]["builds"] == [
        {
            "flags": ["-trimpath"],
            "importPath": "example.com/app/cmd/server",
            "ldflags": ["-s", "-w"],
            "platform": "linux/arm64",
        }
    ]
    assert definition["resolvedDependencies"] == [
        {"digest": {"sha256": "cd" * 32}, "name": "cgr.dev/chainguard/static:latest"},
        {
            "uri": "git+https://git.example.com/acme/app.git",
            "digest": {"gitCommit": COMMIT},
            "name": "source",
            "annotations": {"dirty": True},
        },
        {
            "uri": "pkg:golang/github.com/burntsushi/toml@v1.3.2?type=module",
            "digest": {"dirHash": "a3b2212e6d0cb31dc1681fa7dc083b2fc115941c869e9ab5e02e185a2bbf80bf"},
            "name": "github.com/BurntSushi/toml",
        },
        {
            "uri": "pkg:golang/golang.org/x/text@v0.14.0?type=module",
            "digest": {"dirHash": "49c5f9c357936b742a4fca22ebece23fb7535754b6f802d4d1b23ed335ca5a24"},
            "name": "golang.org/x/text",
        },
    ]
    assert definition["internalParameters"] == {
        "env": [
            {
                "env": {"CGO_ENABLED": "0", "GOARCH": "arm64", "GOARM64": "v8.0", "GOOS": "linux"},
                "importPath": "example.com/app/cmd/server",
                "platform": "linux/arm64",
            }
        ],
        "goVersion": "go1.26.8",
    }
    assert predicate["runDetails"] == {
        "builder": {
            "id": f"pants-backend-ko {VERSION}",
            "version": {"go": "go1.26.8", "pants": "2.17.1", "pants-backend-ko": VERSION},
        },
        "metadata": {},  # in-toto-golang's BuildMetadata is a struct: never omitted
    }


def test_predicate_without_dependencies_omits_them() -> None:
    bare = _inputs(binaries=(BinaryInput("example.com/x", "linux/amd64"),), base_image=None, source=None)
    assert "resolvedDependencies" not in slsa_predicate(bare)["buildDefinition"]
    assert slsa_predicate(bare) == slsa_predicate(bare)  # a function of the inputs: no time, no random id
