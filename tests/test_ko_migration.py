"""A repository that builds with ko today builds with this backend by adding BUILD targets only.

The same sources (go.mod at the root, `.ko.yaml`, `ko://` YAML, KO_DOCKER_REPO) go through the
real ko v0.19.1 (`ko resolve`) and through `./pants package ::`. Built with the same Go (ko is
`go install`ed with the Go on PATH, which the backend uses too), every byte is ko's: the index
digest each YAML names, each platform's manifest digest, and so every layer blob and config.
The rendered YAML differs only in the repository."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.peers.go_reference import ko_binary
from tests.peers.pants_repo import REPO_ROOT, ScratchRepo, make_scratch_repo
from tests.peers.registry import skopeo

pytestmark = pytest.mark.peers


def make_ko_repository(root: Path, base_ref: str) -> None:
    """The example monorepo as a ko user lays it out: module at the root, config/ beside it."""
    shutil.copytree(REPO_ROOT / "src/go", root, ignore=shutil.ignore_patterns("BUILD"))
    shutil.copytree(REPO_ROOT / "src/config", root / "config", ignore=shutil.ignore_patterns("BUILD"))
    (root / ".ko.yaml").write_text(
        f"defaultBaseImage: {base_ref}\ndefaultPlatforms:\n  - linux/amd64\n  - linux/arm64\n"
    )


def add_pants(root: Path) -> ScratchRepo:
    """What a ko user adds: the launcher, pants.toml and the BUILD targets `pants tailor` writes."""
    shutil.copy2(REPO_ROOT / "pants", root / "pants")
    shutil.copytree(REPO_ROOT / "pants-plugins", root / "pants-plugins",
                    ignore=shutil.ignore_patterns("__pycache__", "*_test.py", "BUILD"))
    (root / "3rdparty/python").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "3rdparty/python/pants-requirements.txt", root / "3rdparty/python/")
    (root / "pants.toml").write_text(
        '[GLOBAL]\npants_version = "2.17.1"\npythonpath = ["%(buildroot)s/pants-plugins"]\n'
        'backend_packages = ["pants_backend_ko"]\n\n[anonymous-telemetry]\nenabled = false\n'
    )
    (root / "BUILD").write_text("")
    repo = ScratchRepo(root)
    repo.pants("tailor", "::")
    assert "ko_image()" in (root / "cmd/server/BUILD").read_text()
    assert 'ko_manifests(\n    name="apply",\n)' in (root / "config/BUILD").read_text()
    return repo


def diff_ids(ref: str, arch: str) -> list:
    config = skopeo("inspect", "--config", "--tls-verify=false", "--override-arch", arch, f"docker://{ref}")
    return json.loads(config)["rootfs"]["diff_ids"]


def raw_manifest(ref: str) -> bytes:
    return skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")


def test_ko_repository_builds_with_pants_by_adding_build_targets(tmp_path, registry_plain, unique_repo):
    # A base index in the registry (made by this backend from scratch: no other registry here).
    seed = make_scratch_repo(tmp_path / "seed")
    seed.pants("package", "src/go/cmd/server")
    base_ref = f"{registry_plain.host}/{unique_repo}/base:v1"
    skopeo("copy", "--all", "--dest-tls-verify=false",
           f"oci:{seed.root / 'dist/src.go.cmd.server/server'}:latest", f"docker://{base_ref}")

    root = tmp_path / "korepo"
    make_ko_repository(root, base_ref)
    # An empty folder is an entry of ko's kodata layer (filepath.Walk sees it): here too.
    (root / "cmd/server/kodata/empty").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KO_", "GOFLAGS"))}
    ko = subprocess.run(
        [str(ko_binary()), "resolve", "--sbom=none", "-f", "config/"],
        cwd=root, env={**env, "KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}/ko"},
        capture_output=True, text=True, timeout=900,
    )
    assert ko.returncode == 0, ko.stderr[-3000:]
    ko_docs = [d for d in yaml.safe_load_all(ko.stdout) if d]

    repo = add_pants(root)
    repo.pants("package", "::", env={"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}/pants"})
    ours = (root / "dist/config/apply.yaml").read_text()
    our_docs = [d for d in yaml.safe_load_all(ours) if d]

    def images(docs):
        return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
                for d in docs if d["kind"] in ("Deployment", "Job")}

    ko_images, our_images = images(ko_docs), images(our_docs)
    assert set(ko_images) == set(our_images) == {"example-server", "example-worker"}
    for name, ko_ref in ko_images.items():
        # Same ko naming (md5 of the import path) under each KO_DOCKER_REPO.
        assert re.sub(r"/(ko|pants)/", "/x/", ko_ref.split("@")[0]) == re.sub(r"/(ko|pants)/", "/x/", our_images[name].split("@")[0])
        output = {"example-server": "cmd.server/server", "example-worker": "cmd.worker/worker"}[name]
        layout = root / "dist" / output
        for arch in ("amd64", "arm64"):
            theirs = diff_ids(ko_ref, arch)
            config = skopeo("inspect", "--config", "--override-arch", arch, f"oci:{layout}:latest")
            mine = json.loads(config)["rootfs"]["diff_ids"]
            # Base layers, then kodata, then the app: the same bytes, so the same diffIDs.
            assert mine == theirs, (name, arch)
        # The same compressed blobs, configs and manifests: the same digests, down to the index.
        ko_index = raw_manifest(ko_ref)
        ko_children = {
            m["platform"]["architecture"]: m["digest"] for m in json.loads(ko_index)["manifests"]
        }
        metadata = repo.image_metadata(output)
        assert metadata["platforms"] == {f"linux/{arch}": d for arch, d in ko_children.items()}, name
        assert our_images[name].split("@")[1] == ko_ref.split("@")[1] == metadata["digest"], name
        assert "sha256:" + hashlib.sha256(ko_index).hexdigest() == metadata["digest"]
