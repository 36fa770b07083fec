"""SPDX 2.3 documents from real Go binaries, checked against the official JSON schema."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pants_backend_ko.golang.gobuildinfo import GoBuildInfo, parse_go_version_m
from pants_backend_ko.golang.gobuildinfo_test import build_sample, built_sample, go_sum_hashes, go_version_m
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.spdx import (
    IndexChild,
    base_from_manifest,
    created_from_config,
    h1_to_sha256,
    spdx_for_image,
    spdx_for_index,
)

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "tests" / "data" / "spdx-2.3.schema.json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_DIGEST = "sha256:" + "1" * 64
BASE_DIGEST = "sha256:" + "2" * 64
SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, str, str]:
    return built_sample(tmp_path_factory)


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
    kwargs: dict[str, Any] = dict(
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
