"""A 200 MB `//go:embed` binary (issue 17): assembled, archived and pushed with Pants' memory
(Pants and every process it runs, summed) no higher than for a small image.

The layers are written by the Go layer writer from files, the layout and the docker archive
are assembled from digests, and the push streams blobs from disk, so nothing holds the binary
in memory; before, Pants' Python held ~14 copies of it (2.8 GB for 200 MB). The image is then
checked with tools we did not write: the registry's digest by skopeo, the binary unpacked by
umoci and run, printing the sha256 of the 200 MB it embeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.peers import image_tools
from tests.peers.pants_repo import make_scratch_repo
from tests.peers.registry import skopeo
from tests.peers.rss import MB, measured_pants

pytestmark = pytest.mark.peers

TABLE_MB = 200
BOUND_MB = 300  # over the same run for a small image

MAIN = """package main

import (
	"crypto/sha256"
	_ "embed"
	"fmt"
)

// A large generated table, as big binaries carry (assets, generated data).
//
//go:embed table.bin
var table []byte

func main() { fmt.Printf("%x\\n", sha256.Sum256(table)) }
"""


def test_a_200mb_embed_binary_costs_no_more_memory_than_a_small_one(tmp_path, registry_plain, unique_repo):
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={
            "src/go/cmd/big/main.go": MAIN,
            "src/go/cmd/big/BUILD": (
                'ko_image(name="big", platforms=["linux/amd64"])\n'
                'ko_go_package(name="pkg", sources=["*.go", "table.bin"])\n'
            ),
            "src/go/cmd/big/kodata/stamp.txt": "0\n",
            "src/go/cmd/worker/kodata/stamp.txt": "0\n",
        },
    )
    table = repo.root / "src/go/cmd/big/table.bin"
    digest = hashlib.sha256()
    with open(table, "wb") as f:
        for _ in range(TABLE_MB):
            chunk = os.urandom(MB)  # incompressible: the layer is as big as the binary
            digest.update(chunk)
            f.write(chunk)
    env = {**os.environ, "KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}"}
    # The builds first (the Go linker's memory is Go's); then each measured run re-assembles,
    # archives and pushes one image after an edit of its kodata (its binary comes from the cache).
    repo.pants("package", "src/go/cmd/big", "src/go/cmd/worker")
    peaks = {}
    for name in ("worker", "big"):
        (repo.root / f"src/go/cmd/{name}/kodata/stamp.txt").write_text("1\n")
        run = measured_pants(repo.root, "package", "publish", f"src/go/cmd/{name}", env=env)
        assert run.returncode == 0, run.stderr[-4000:]
        peaks[name], stdout = run.peak, run.stdout
    print(f"\nLARGE BINARY peak RSS of Pants and its processes: {peaks['worker'] // MB} MB for the small image, "
          f"{peaks['big'] // MB} MB for the {TABLE_MB} MB one")
    assert peaks["big"] - peaks["worker"] < BOUND_MB * MB, peaks

    # What was pushed is what was packaged, and it runs.
    metadata = repo.image_metadata("src.go.cmd.big/big")
    (reference,) = re.findall(r"(\S+/big-[0-9a-f]{32})@(sha256:[0-9a-f]{64})", stdout)
    assert reference[1] == metadata["digest"]
    pushed = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{reference[0]}@{reference[1]}")
    assert "sha256:" + hashlib.sha256(pushed).hexdigest() == metadata["digest"]
    app_layer = json.loads(pushed)["layers"][-1]
    assert app_layer["size"] > TABLE_MB * MB
    layout = repo.root / "dist/src.go.cmd.big/big"
    bundle = image_tools.umoci_unpack(layout, "latest", tmp_path / "bundle")
    binary = bundle / "rootfs/ko-app/big"
    assert subprocess.run([str(binary)], capture_output=True, text=True, timeout=120).stdout.strip() == digest.hexdigest()
    shutil.rmtree(tmp_path / "bundle", ignore_errors=True)
