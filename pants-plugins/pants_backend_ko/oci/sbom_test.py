"""SBOMs from real Go binaries: `go version -m` parsing checked against Go's own
`debug.ParseBuildInfo`, SPDX 2.3 documents checked against the official JSON schema.

The sample program (:func:`build_sample`) is a module with a third-party dependency fetched
through the Go module proxy (github.com/google/uuid v1.6.0), a dependency replaced by another
version (github.com/google/go-cmp v0.6.0 => v0.5.9) and one replaced by a local directory.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
from tests.peers.go_reference import _build, _run, go_env

from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.sbom import (
    GoBuildInfo,
    GoBuildInfoError,
    IndexChild,
    base_from_manifest,
    build_info_from_binary,
    created_from_config,
    h1_to_sha256,
    parse_go_version_m,
    spdx_for_image,
    spdx_for_index,
)

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "tests" / "data" / "spdx-2.3.schema.json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_DIGEST = "sha256:" + "1" * 64
BASE_DIGEST = "sha256:" + "2" * 64
SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
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


# Go's own parser: ko's massageGoVersionM, then debug.ParseBuildInfo, printed as JSON.
_PARSE_MAIN = r"""package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"unicode"
)

func main() {
	b, _ := io.ReadAll(os.Stdin)
	var out bytes.Buffer
	scanner := bufio.NewScanner(bytes.NewReader(b))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	scanner.Scan()
	for scanner.Scan() {
		fmt.Fprintln(&out, strings.TrimLeftFunc(scanner.Text(), unicode.IsSpace))
	}
	bi, err := debug.ParseBuildInfo(out.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(bi)
}
"""


def go_parse_build_info(text: str) -> dict:
    binary = _build(
        "parsebuildinfo",
        {"go.mod": "module example.com/parsebuildinfo\n\ngo 1.22\n", "main.go": _PARSE_MAIN},
        offline=True,
    )
    return json.loads(_run(binary, text.encode()))


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


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, str, str]:
    """(binary, go.sum text, `go version -m` output) of the sample built with -trimpath."""
    binary, go_sum = build_sample(tmp_path_factory.mktemp("sbom-sample"), "-trimpath")
    return binary, go_sum, go_version_m(binary)


def schema_validator():
    import jsonschema  # test-only dependency (3rdparty/python/test-requirements.txt)

    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def check_spdx_document(data: bytes) -> dict:
    """Schema-valid SPDX 2.3, SPDX ids well formed and unique, relationships closed."""
    doc = json.loads(data)
    errors = sorted(schema_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    for spdx_id in ids:
        assert SPDX_ID.match(spdx_id), spdx_id
    known = set(ids) | {"SPDXRef-DOCUMENT"}
    for rel in doc["relationships"]:
        assert rel["spdxElementId"] in known and rel["relatedSpdxElement"] in known, rel
    assert set(doc["documentDescribes"]) <= known
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["creationInfo"]["created"])
    assert data.endswith(b"}\n")
    return doc


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
    for text in ("x: go1.26\n\tdep\ta\tb\tc\td\n", "x: go1.26\n\tpath\tp\n\tbuild\tk=a b\n"):
        with pytest.raises(RuntimeError, match="could not parse Go build info"):
            go_parse_build_info(text)


def test_build_info_from_binary_equals_go_version_m(sample, tmp_path) -> None:
    binary, _, text = sample
    assert build_info_from_binary(binary.read_bytes(), str(binary)) == parse_go_version_m(text)
    # Stripped (-s -w); cross-compiled 64-bit arm64 and 32-bit 386 ELF files.
    stripped, _ = build_sample(tmp_path / "stripped", "-ldflags=-s -w", output="stripped")
    assert build_info_from_binary(stripped.read_bytes(), str(stripped)) == parse_go_version_m(go_version_m(stripped))
    for goarch in ("arm64", "386"):
        other, _ = build_sample(tmp_path / goarch, "-trimpath", output=f"app-{goarch}", goarch=goarch)
        info = build_info_from_binary(other.read_bytes(), str(other))
        assert info == parse_go_version_m(go_version_m(other)) and info.setting("GOARCH") == goarch
    named = build_info_from_binary(binary.read_bytes(), "/ko-app/sbomapp")
    assert named.binary == "/ko-app/sbomapp" and named.deps == parse_go_version_m(text).deps


def test_build_info_from_binary_errors(sample) -> None:
    with pytest.raises(GoBuildInfoError, match="^/bin/sh: not a Go executable"):
        build_info_from_binary(Path("/bin/sh").read_bytes(), "/bin/sh")
    with pytest.raises(GoBuildInfoError, match="not an ELF executable; .* parse_go_version_m"):
        build_info_from_binary(b"MZ" + b"\0" * 100, "app.exe")
    with pytest.raises(GoBuildInfoError, match="truncated"):
        build_info_from_binary(sample[0].read_bytes()[:65536], "cut")  # section headers are at the end


def test_base_and_created_helpers() -> None:
    manifest = json.dumps(
        {
            "annotations": {
                "org.opencontainers.image.base.name": "cgr.dev/x:latest",
                "org.opencontainers.image.base.digest": BASE_DIGEST,
            }
        }
    ).encode()
    assert base_from_manifest(manifest) == ("cgr.dev/x:latest", BASE_DIGEST)
    assert base_from_manifest(b'{"schemaVersion":2}') is None
    assert created_from_config(b'{"created":"2023-11-14T22:13:20Z"}') == "2023-11-14T22:13:20Z"
    assert created_from_config(b"{}") == "0001-01-01T00:00:00Z"


def test_h1_to_sha256() -> None:
    raw = bytes(range(32))
    assert h1_to_sha256("h1:" + base64.b64encode(raw).decode()) == raw.hex()
    assert h1_to_sha256("h2:" + base64.b64encode(raw).decode()) == ""
    assert h1_to_sha256("h1:not base64!") == ""
    assert h1_to_sha256("") == ""


# --------------------------------------------------------------------------- image SBOM


def _image_sbom(info: GoBuildInfo, **overrides) -> bytes:
    kwargs = dict(
        image_digest=IMAGE_DIGEST,
        image_media_type=OCI_MANIFEST,
        binary_path_in_image="/ko-app/sbomapp",
        base=("cgr.dev/chainguard/static:latest", BASE_DIGEST),
        created="1970-01-01T00:00:00Z",
        tool_version="0.1.0",
    )
    kwargs.update(overrides)
    return spdx_for_image(info, **kwargs)


def test_image_sbom_is_valid_spdx_and_lists_every_module(sample) -> None:
    _, go_sum, text = sample
    info = parse_go_version_m(text)
    doc = check_spdx_document(_image_sbom(info))
    sums = go_sum_hashes(go_sum)
    by_id = {p["SPDXID"]: p for p in doc["packages"]}

    image_id = "SPDXRef-Package-sha256-" + "1" * 64
    base_id = "SPDXRef-Package-sha256-" + "2" * 64
    assert doc["documentDescribes"] == [image_id]
    assert doc["documentNamespace"] == "http://spdx.org/spdxdocs/pants-backend-ko/" + IMAGE_DIGEST
    assert doc["creationInfo"] == {"created": "1970-01-01T00:00:00Z", "creators": ["Tool: pants-backend-ko 0.1.0"]}
    image = by_id[image_id]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/image@{IMAGE_DIGEST}?mediaType=application%2Fvnd.oci.image.manifest.v1%2Bjson"
    )
    base = by_id[base_id]
    assert base["name"] == f"cgr.dev/chainguard/static@{BASE_DIGEST}"
    assert base["versionInfo"] == "cgr.dev/chainguard/static:latest"
    assert base["checksums"] == [{"algorithm": "SHA256", "checksumValue": "2" * 64}]
    assert base["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/image@{BASE_DIGEST}?repository_url=cgr.dev%2Fchainguard%2Fstatic&tag=latest"
    )

    main_id = "SPDXRef-Package-example.com.sbomapp--devel-"
    main = by_id[main_id]
    assert main["name"] == "example.com/sbomapp" and main["downloadLocation"] == "https://example.com/sbomapp"
    assert "/ko-app/sbomapp" in main["comment"]
    rels = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]}
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", image_id) in rels
    assert (image_id, "DESCENDANT_OF", base_id) in rels
    assert (image_id, "CONTAINS", main_id) in rels

    # Every dep module of `go version -m`, and nothing else, DEPENDS_ON from the main module.
    deps = [p for p in doc["packages"] if p["SPDXID"] not in (image_id, base_id, main_id)]
    assert [(p["name"], p["versionInfo"]) for p in deps] == [(d.path, d.version) for d in info.deps]
    assert {r for r in rels if r[1] == "DEPENDS_ON"} == {(main_id, "DEPENDS_ON", p["SPDXID"]) for p in deps}
    purls = {p["name"]: p["externalRefs"][0]["referenceLocator"] for p in deps}
    assert purls["github.com/google/uuid"] == "pkg:golang/github.com/google/uuid@v1.6.0?type=module"
    checksums = {p["name"]: p.get("checksums") for p in deps}
    # SHA256 = the 32 bytes inside go.sum's h1: (decoded independently here)
    uuid_h1 = sums[("github.com/google/uuid", "v1.6.0")]
    assert checksums["github.com/google/uuid"] == [
        {"algorithm": "SHA256", "checksumValue": base64.b64decode(uuid_h1[3:]).hex()}
    ]
    cmp_h1 = sums[("github.com/google/go-cmp", "v0.5.9")]  # the replacement is what is compiled in
    assert checksums["github.com/google/go-cmp"] == [
        {"algorithm": "SHA256", "checksumValue": base64.b64decode(cmp_h1[3:]).hex()}
    ]
    assert checksums["example.com/localdep"] is None  # a local directory has no go.sum hash
    locations = {p["name"]: (p["downloadLocation"], p.get("sourceInfo")) for p in deps}
    assert locations == {
        "example.com/localdep": ("NOASSERTION", "replaced by the local directory ../localdep"),
        "github.com/google/go-cmp": (
            "https://proxy.golang.org/github.com/google/go-cmp/@v/v0.5.9.zip",
            "replaced by github.com/google/go-cmp v0.5.9",
        ),
        "github.com/google/uuid": ("https://proxy.golang.org/github.com/google/uuid/@v/v1.6.0.zip", None),
    }


def test_image_sbom_is_deterministic(sample, tmp_path) -> None:
    _, _, text = sample
    first = _image_sbom(parse_go_version_m(text))
    assert _image_sbom(parse_go_version_m(text)) == first
    # A rebuild in another directory (same sources, -trimpath) gives the same bytes once the
    # binary's path is replaced, as ko does with /ko-app/<name>.
    rebuilt, _ = build_sample(tmp_path, "-trimpath")
    assert _image_sbom(parse_go_version_m(go_version_m(rebuilt))) == first
    # And the output is what Go's json.Encoder with SetIndent("", "  ") writes.
    doc = json.loads(first)
    assert first == (json.dumps(doc, indent=2, ensure_ascii=False).replace("&", "\\u0026") + "\n").encode()


def test_image_sbom_options(sample) -> None:
    info = parse_go_version_m(sample[2])
    scratch = json.loads(_image_sbom(info, base=None, created="2024-05-01T12:30:00.123+02:00"))
    assert not any(r["relationshipType"] == "DESCENDANT_OF" for r in scratch["relationships"])
    assert scratch["creationInfo"]["created"] == "2024-05-01T10:30:00Z"  # UTC, whole seconds
    hub = json.loads(_image_sbom(info, base=("alpine", BASE_DIGEST)))
    base = hub["packages"][1]
    assert base["name"] == f"index.docker.io/library/alpine@{BASE_DIGEST}"
    assert base["externalRefs"][0]["referenceLocator"].endswith(
        "?repository_url=index.docker.io%2Flibrary%2Falpine&tag=latest"
    )
    pinned = json.loads(_image_sbom(info, base=(f"ghcr.io/acme/base:v1@{BASE_DIGEST}", BASE_DIGEST)))
    assert "tag=" not in pinned["packages"][1]["externalRefs"][0]["referenceLocator"]  # a digest ref has no tag
    with pytest.raises(ValueError, match="image_digest: 'sha256:abc' is not a sha256 digest"):
        _image_sbom(info, image_digest="sha256:abc")
    with pytest.raises(ValueError, match="created: 'yesterday' is not an RFC 3339 time"):
        _image_sbom(info, created="yesterday")
    with pytest.raises(ValueError, match="is not an image manifest type"):
        _image_sbom(info, image_media_type=OCI_INDEX)
    with pytest.raises(ValueError, match="base name: "):
        _image_sbom(info, base=("Not A Ref", BASE_DIGEST))


def test_upper_case_module_paths_are_proxy_escaped() -> None:
    info = parse_go_version_m(
        "bin: go1.26.8\n\tpath\texample.com/x\n\tmod\texample.com/x\t(devel)\t\n"
        "\tdep\tgithub.com/BurntSushi/toml\tv1.3.2\th1:o7IhLm0Msx3BaB+n3Ag7L8EVlByGnpq14C4YWiu/gL8=\n"
        "\tdep\tgopkg.in/yaml.v3\tv3.0.1+incompatible\n"
    )
    doc = check_spdx_document(_image_sbom(info))
    toml = next(p for p in doc["packages"] if p["name"] == "github.com/BurntSushi/toml")
    assert toml["downloadLocation"] == "https://proxy.golang.org/github.com/!burnt!sushi/toml/@v/v1.3.2.zip"
    assert toml["externalRefs"][0]["referenceLocator"] == "pkg:golang/github.com/burntsushi/toml@v1.3.2?type=module"
    yaml_ids = [p["SPDXID"] for p in doc["packages"] if p["name"] == "gopkg.in/yaml.v3"]
    assert yaml_ids == ["SPDXRef-Package-gopkg.in.yaml.v3-v3.0.1-incompatible"]


# --------------------------------------------------------------------------- index SBOM


def test_index_sbom() -> None:
    index_digest = "sha256:" + "3" * 64
    amd, arm = "sha256:" + "4" * 64, "sha256:" + "5" * 64
    data = spdx_for_index(
        index_digest,
        [(amd, "linux/amd64"), IndexChild(arm, "linux/arm/v7", OCI_MANIFEST)],
        "1970-01-01T00:00:00Z",
        tool_version="0.1.0",
    )
    doc = check_spdx_document(data)
    assert [p["name"] for p in doc["packages"]] == [index_digest, amd, arm]
    index_id = "SPDXRef-Package-sha256-" + "3" * 64
    assert doc["relationships"] == [
        {
            "spdxElementId": index_id,
            "relationshipType": "VARIANT_OF",
            "relatedSpdxElement": "SPDXRef-Package-sha256-" + h * 64,
        }
        for h in "45"
    ]
    assert doc["packages"][0]["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/index@{index_digest}?mediaType=application%2Fvnd.oci.image.index.v1%2Bjson"
    )
    assert doc["packages"][2]["versionInfo"] == "linux/arm/v7"
    assert doc["packages"][2]["externalRefs"][0]["referenceLocator"] == (
        f"pkg:oci/image@{arm}?arch=arm&mediaType=application%2Fvnd.oci.image.manifest.v1%2Bjson&os=linux&variant=v7"
    )
    # Platform objects work too, and the bytes do not depend on how the platform was given.
    again = spdx_for_index(
        index_digest,
        [(amd, Platform.parse("linux/amd64")), (arm, Platform.parse("linux/arm/v7"))],
        "1970-01-01T00:00:00Z",
        tool_version="0.1.0",
    )
    assert again == data
    with pytest.raises(ValueError, match=r"children\[1\]: .* is listed twice"):
        spdx_for_index(
            index_digest, [(amd, "linux/amd64"), (amd, "linux/arm64")], "1970-01-01T00:00:00Z", tool_version="1"
        )
    with pytest.raises(ValueError, match="at least one child"):
        spdx_for_index(index_digest, [], "1970-01-01T00:00:00Z", tool_version="1")
