"""In-process tests of `pants package` for `ko_image` and `ko_manifests`: the files of the
BuiltPackage and the content of `<name>.ko-image.json`, on an empty (scratch) base."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from pants.core.goals.package import BuiltPackage, PackageSubsystem
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from pants_backend_ko.goals.package import KoImagePackageFieldSet, KoManifestsPackageFieldSet
from pants_backend_ko.testutil import (
    go_module_files,
    hello_main,
    ko_rule_runner,
    set_ko_options,
    tar_member,
    with_go_targets,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMPORT_PATH = "example.com/pkg/cmd/web"
REPOSITORY = "registry.example/team/web-" + hashlib.md5(IMPORT_PATH.encode()).hexdigest()


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    # `package` on the command line is a known goal (the docker archive is written for it only).
    rule_runner = ko_rule_runner([*PackageSubsystem.rules(), QueryRule(PackageSubsystem, [])])
    rule_runner.write_files(
        {
            **with_go_targets(
                {
                    **go_module_files("pkg", "example.com/pkg", {"cmd/web": hello_main("web")}),
                    "pkg/cmd/web/kodata/hello.txt": "hello from kodata\n",
                }
            ),
            "pkg/cmd/web/BUILD": (
                "ko_image(name='img', platforms=['linux/amd64'], tags=['v1', 'latest'])\n"
                "ko_image(name='multi', platforms=['linux/amd64', 'linux/arm64'], output_path='out/multi')\n"
                "ko_image(name='named', platforms=['linux/amd64'], output_path='out/named')\n"
            ),
            "pkg/deploy/web.yaml": "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n    - image: ko://example.com/pkg/cmd/web\n",
            "pkg/deploy/BUILD": "ko_manifests(name='m', dependencies=['pkg/cmd/web:img'])\n",
        }
    )
    return rule_runner


def package(rule_runner: RuleRunner, name: str) -> tuple[BuiltPackage, dict[str, bytes]]:
    target = rule_runner.get_target(Address("pkg/cmd/web", target_name=name))
    built = rule_runner.request(BuiltPackage, [KoImagePackageFieldSet.create(target)])
    files = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}
    return built, files


def blob(files: dict[str, bytes], prefix: str, digest: str) -> bytes:
    content = files[f"{prefix}/blobs/{digest.replace(':', '/')}"]
    assert "sha256:" + hashlib.sha256(content).hexdigest() == digest
    return content


def test_package_single_platform_image(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["package", "--ko-docker-repo=registry.example/team"])
    built, files = package(rule_runner, "img")
    out = "pkg.cmd.web/img"
    assert [a.relpath for a in built.artifacts] == [out, f"{out}.ko-image.json", f"{out}.tar", f"{out}.spdx.json"]
    assert json.loads(files[f"{out}.spdx.json"])["spdxVersion"] == "SPDX-2.3"  # [ko].sbom is on by default

    # The OCI layout: oci-layout, index.json, and every blob under its digest.
    assert json.loads(files[f"{out}/oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files[f"{out}/index.json"])
    (top,) = index["manifests"]
    assert top["mediaType"] == OCI_MANIFEST
    manifest = json.loads(blob(files, out, top["digest"]))
    config = json.loads(blob(files, out, manifest["config"]["digest"]))
    layers = [blob(files, out, layer["digest"]) for layer in manifest["layers"]]
    assert len(layers) == 2  # kodata, then the binary: nothing from a scratch base
    with tarfile.open(fileobj=io.BytesIO(layers[0]), mode="r:gz") as kodata:
        # absolute, as ko writes it
        assert tar_member(kodata, "/var/run/ko/hello.txt") == b"hello from kodata\n"
    with tarfile.open(fileobj=io.BytesIO(layers[1]), mode="r:gz") as app:
        # ko's tarBinary: the directory `ko-app`, then the binary at `/ko-app/web`, both 0555.
        assert [(m.name, m.mode) for m in app.getmembers()] == [("ko-app", 0o555), ("/ko-app/web", 0o555)]
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["config"]["Entrypoint"] == ["/ko-app/web"]
    blob_files = {p for p in files if p.startswith(f"{out}/blobs/")}
    assert len(blob_files) == 4  # manifest, config, two layers: nothing else

    # The metadata says what the image is and where it will live.
    metadata = json.loads(files[f"{out}.ko-image.json"])
    assert metadata == {
        "address": "pkg/cmd/web:img",
        "import_path": IMPORT_PATH,
        "digest": top["digest"],
        "media_type": OCI_MANIFEST,
        "platforms": {"linux/amd64": top["digest"]},
        "base_image": "scratch",
        "repository": REPOSITORY,
        "tags": ["v1", "latest"],
        "references": [f"{REPOSITORY}@{top['digest']}", f"{REPOSITORY}:v1", f"{REPOSITORY}:latest"],
    }

    # The docker archive carries the same config and layers, tagged for every tag.
    with tarfile.open(fileobj=io.BytesIO(files[f"{out}.tar"])) as archive:
        (entry,) = json.loads(tar_member(archive, "manifest.json"))
        assert entry["RepoTags"] == [f"{REPOSITORY}:v1", f"{REPOSITORY}:latest"]
        assert tar_member(archive, entry["Config"]) == blob(files, out, manifest["config"]["digest"])


def test_package_without_a_repository(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["package"])
    built, files = package(rule_runner, "img")
    metadata = json.loads(files["pkg.cmd.web/img.ko-image.json"])
    assert (metadata["repository"], metadata["references"]) == (None, [])
    # The archive still gets a name: ko.local/<ko's name for the import path>.
    with tarfile.open(fileobj=io.BytesIO(files["pkg.cmd.web/img.tar"])) as archive:
        (entry,) = json.loads(tar_member(archive, "manifest.json"))
    local = "ko.local/web-" + hashlib.md5(IMPORT_PATH.encode()).hexdigest()
    assert entry["RepoTags"] == [f"{local}:v1", f"{local}:latest"]


def test_package_multi_platform_index(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["package", "--ko-docker-repo=registry.example/team", "--no-ko-sbom"])
    built, files = package(rule_runner, "multi")
    # Several platforms: an index; with an explicit output_path, the archive sits beside the layout.
    assert [a.relpath for a in built.artifacts] == ["out/multi", "out/multi.ko-image.json", "out/multi.tar"]
    assert "out/multi.tar" in files and "out/multi/index.json" in files
    (top,) = json.loads(files["out/multi/index.json"])["manifests"]
    assert top["mediaType"] == OCI_INDEX
    index = json.loads(blob(files, "out/multi", top["digest"]))
    platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
    metadata = json.loads(files["out/multi.ko-image.json"])
    assert metadata["media_type"] == OCI_INDEX and metadata["digest"] == top["digest"]
    assert metadata["platforms"] == platforms
    assert set(platforms) == {"linux/amd64", "linux/arm64"}


def test_package_with_an_explicit_output_path(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["package", "--no-ko-sbom"])
    built, files = package(rule_runner, "named")
    assert [a.relpath for a in built.artifacts] == ["out/named", "out/named.ko-image.json", "out/named.tar"]
    assert {"out/named/index.json", "out/named/oci-layout", "out/named.tar", "out/named.ko-image.json"} <= set(files)


def test_no_docker_archive_unless_package_is_asked_for(rule_runner: RuleRunner) -> None:
    # `publish` runs the package rule too (Pants 2.17): nobody reads an archive there.
    set_ko_options(rule_runner, ["--no-ko-sbom"])
    built, files = package(rule_runner, "named")
    assert [a.relpath for a in built.artifacts] == ["out/named", "out/named.ko-image.json"]
    assert not [p for p in files if p.endswith(".tar")]


def test_package_manifests(rule_runner: RuleRunner) -> None:
    set_ko_options(rule_runner, ["--ko-docker-repo=registry.example/team"])
    _, image_files = package(rule_runner, "img")
    digest = json.loads(image_files["pkg.cmd.web/img.ko-image.json"])["digest"]
    target = rule_runner.get_target(Address("pkg/deploy", target_name="m"))
    built = rule_runner.request(BuiltPackage, [KoManifestsPackageFieldSet.create(target)])
    files = {fc.path: fc.content.decode() for fc in rule_runner.request(DigestContents, [built.digest])}
    # One non-latest tag besides latest: ko's reference form is repo@digest.
    expected = "kind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n" f"    - image: {REPOSITORY}@{digest}\n"
    assert files == {"pkg.deploy/m.yaml": expected, "pkg.deploy/m/web.yaml": expected}
    assert [a.relpath for a in built.artifacts] == ["pkg.deploy/m.yaml", "pkg.deploy/m/"]
