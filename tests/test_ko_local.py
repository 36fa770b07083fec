"""ko.local parity: the real ko v0.19.1 `ko build --local` and our daemon core, into the same dockerd.

The example server (`src/go`, linux/amd64 + linux/arm64, kodata) is built twice on the same
base: by `./pants package` (then loaded with `python -m pants_backend_ko.oci.daemon load`) and
by `ko build --local`, both with the same `DOCKER_HOST`. They must give the same repository
name, the same tag form (`<manifest digest hex>` of the linux/amd64 image, which `package`
already knows), the same diffIDs and the same config, i.e. the same image ID: ko, loading
second, then finds the image in the daemon and only tags it, as go-containerregistry's
`daemon.Write` does. The loaded image runs with `docker run --network none` and reads kodata.

The same comparison for a `ko.local/...` base image: ko reads it from the daemon
(`daemon.Image`); our core writes it as an OCI layout (`save`) that the Pants target uses as a
path base. Docker only: podman's API is checked in test_daemon.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import layout_files
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.platform import Platform
from tests.peers.container_engine import ContainerEngine
from tests.peers.go_reference import ko_binary
from tests.peers.image_tools import skopeo, write_tree
from tests.peers.pants_repo import REPO_ROOT, ScratchRepo, make_scratch_repo

pytestmark = pytest.mark.peers

SERVER = "src.go.cmd.server/server"
ON_DAEMON_BASE = "src.go.cmd.server/on-daemon-base"
NAME = "ko.local/server-961d4f7e2040039f268e0cc4cb46e0c9"  # ko's md5 naming of example.com/app/cmd/server
REFERENCE = re.compile(r"^(ko\.local/[a-z0-9./-]+):([0-9a-f]{64})$")


@dataclass(frozen=True)
class Built:
    repo: ScratchRepo
    ko_module: Path  # the same Go module as a ko user lays it out
    base_ref: str  # the base index in the registry
    daemon_base: str  # the base's linux/amd64 image in the daemon, as ko.local/...


def _core(engine: ContainerEngine, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.oci.daemon", *args],
        env=engine.env(PYTHONPATH=str(REPO_ROOT / "pants-plugins")),
        capture_output=True, text=True, timeout=600,
    )


def _core_load(engine: ContainerEngine, workdir: Path, layout: Path, repository: str) -> str:
    request = workdir / f"load-{uuid.uuid4().hex[:6]}.json"
    image = {"layout": str(layout), "repository": repository, "tags": ["latest"], "what": str(layout)}
    request.write_text(json.dumps({"images": [image], "goos": "linux", "goarch": "amd64"}))
    result = _core(engine, "load", "--request", str(request))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _ko_build(engine: ContainerEngine, module: Path, *args: str, **env: str) -> str:
    clean = {k: v for k, v in engine.env().items() if not k.startswith(("KO_", "GOFLAGS"))}
    result = subprocess.run(
        [str(ko_binary()), "build", "--local", "--sbom=none", *args, "./cmd/server"],
        cwd=module, env={**clean, **env}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(dockerd: ContainerEngine, registry_plain, tmp_path_factory) -> Built:
    root = tmp_path_factory.mktemp("ko-local")
    # A base index (our own code; any real image would do) in the registry, for ko and for Pants.
    platforms = (Platform.parse("linux/amd64"), Platform.parse("linux/arm64"))
    bases = {
        p: build_image(
            BaseImage.scratch(p), platform=p, import_path="example.com/base", binaries=[("base", f"{p}".encode())],
            env={"BASE_VAR": "from the base"}, labels={"base": "yes"},
        )
        for p in platforms
    }
    index = build_index([(bases[p], p) for p in platforms], child_artifact_type=False)
    layout = write_tree(root / "base", layout_files(index, list(bases.values()), {}, "latest"))
    base_ref = f"{registry_plain.host}/t/ko-local-{uuid.uuid4().hex[:8]}/base:v1"
    skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout}:latest", f"docker://{base_ref}")
    # The base's linux/amd64 image in the daemon, loaded by our core, and read back for Pants.
    amd64_layout = write_tree(root / "base-amd64", layout_files(bases[platforms[0]], [bases[platforms[0]]], {}, "v1"))
    daemon_base_repo = f"ko.local/base-{uuid.uuid4().hex[:8]}"
    _core_load(dockerd, root, amd64_layout, daemon_base_repo)
    daemon_base = f"{daemon_base_repo}:latest"

    repo = make_scratch_repo(root / "pants", files={
        "src/go/cmd/server/BUILD": (
            f'ko_image(name="server", platforms=["linux/amd64", "linux/arm64"], base_image="{base_ref}")\n'
            'ko_image(name="on-daemon-base", platforms=["linux/amd64"], base_image="./daemon-base")\n'
        ),
    })
    saved = _core(dockerd, "save", "--ref", daemon_base, "--out", str(repo.root / "src/go/cmd/server/daemon-base"))
    assert saved.returncode == 0, saved.stderr
    repo.pants("package", "src/go/cmd/server:server", "src/go/cmd/server:on-daemon-base",
               env={"KO_DOCKER_REPO": "ko.local"})

    module = root / "ko"
    shutil.copytree(REPO_ROOT / "src/go", module, ignore=shutil.ignore_patterns("BUILD"))
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {base_ref}\ndefaultPlatforms: [linux/amd64, linux/arm64]\n")
    return Built(repo, module, base_ref, daemon_base)


def _compare(dockerd: ContainerEngine, ours: str, theirs: str, metadata: dict) -> None:
    """Same name, tag form, diffIDs and config (so the same image ID)."""
    our_name, our_hex = REFERENCE.match(ours).groups()  # type: ignore[union-attr]
    ko_name, ko_hex = REFERENCE.match(theirs).groups()  # type: ignore[union-attr]
    assert our_name == ko_name == metadata["repository"] == NAME
    # `package` knows the reference before any daemon: the linux/amd64 image's digest.
    assert our_hex == digest_hex(metadata["platforms"]["linux/amd64"])
    mine, ko = dockerd.inspect(ours), dockerd.inspect(theirs)
    assert mine["RootFS"]["Layers"] == ko["RootFS"]["Layers"]
    assert mine["Config"] == ko["Config"] and mine["Architecture"] == ko["Architecture"] == "amd64"
    assert mine["Id"] == ko["Id"]
    assert {ours, theirs, f"{NAME}:latest"} <= set(ko["RepoTags"])


def test_ko_build_local_and_our_load_give_the_same_image(dockerd: ContainerEngine, built: Built, tmp_path) -> None:
    metadata = built.repo.image_metadata(SERVER)
    start = time.time()
    ours = _core_load(dockerd, tmp_path, built.repo.root / "dist" / SERVER, metadata["repository"])
    middle = time.time()
    theirs = _ko_build(dockerd, built.ko_module)
    end = time.time() + 1
    _compare(dockerd, ours, theirs, metadata)
    # Both name the linux/amd64 image of an index by its manifest digest; with go's deflate
    # and ours the compressed layers (hence manifest digests) differ, the image does not.
    actions = lambda since, until: [e["Action"] for e in dockerd.events(since, until)]  # noqa: E731
    assert "load" in actions(start, middle)
    assert "load" not in actions(middle, end)  # ko found the image we loaded: same image ID
    run = dockerd.docker("run", "--rm", "--network", "none", ours, "-once")
    assert "hello from server on linux/amd64" in run.stdout
    assert "kodata: message from kodata" in run.stdout


def test_a_ko_local_base_is_read_from_the_daemon_as_ko_does(dockerd: ContainerEngine, built: Built, tmp_path) -> None:
    metadata = built.repo.image_metadata(ON_DAEMON_BASE)
    ours = _core_load(dockerd, tmp_path, built.repo.root / "dist" / ON_DAEMON_BASE, metadata["repository"])
    theirs = _ko_build(dockerd, built.ko_module, "--platform=linux/amd64", KO_DEFAULTBASEIMAGE=built.daemon_base)
    _compare(dockerd, ours, theirs, metadata)
    base = dockerd.inspect(built.daemon_base)
    assert dockerd.inspect(ours)["RootFS"]["Layers"][: len(base["RootFS"]["Layers"])] == base["RootFS"]["Layers"]
    assert "BASE_VAR=from the base" in dockerd.inspect(ours)["Config"]["Env"]
