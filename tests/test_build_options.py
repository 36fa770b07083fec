"""BUILD-file options that ko lacks, end to end: several binaries in one image, cgo on a base
that carries libc (an OCI layout base inside the repository), `host` and `all` platforms."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.peers import image_tools
from tests.peers.pants_repo import make_scratch_repo


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_libc_base_layout(root: Path) -> None:
    """An OCI image layout whose one layer holds the host's glibc loader and libc: a base for
    cgo binaries, made from files on this machine (no registry needed)."""
    files = {}
    for path in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"):
        files[path.lstrip("/")] = Path(path).resolve().read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for directory in ("lib", "lib/x86_64-linux-gnu", "lib64"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    layer_tar = buffer.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [_sha(layer_tar)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config), "digest": _sha(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": len(layer), "digest": _sha(layer)}],
    }).encode()
    blobs = root / "blobs/sha256"
    blobs.mkdir(parents=True)
    for data in (layer, config, manifest):
        (blobs / _sha(data)[7:]).write_bytes(data)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(manifest),
                       "digest": _sha(manifest), "annotations": {"org.opencontainers.image.ref.name": "latest"}}],
    }))


CGO_MAIN = """\
// Command cgohello calls into C, so it links against glibc.
package main

/*
#include <stdio.h>
static int answer(void) { return 42; }
*/
import "C"

import "fmt"

func main() {
	fmt.Printf("cgo says %d\\n", int(C.answer()))
}
"""


def run_in_rootfs(bundle: Path, program: str) -> str:
    process = image_tools.bundle_process(bundle)
    env = dict(e.split("=", 1) for e in process["env"])
    result = subprocess.run([shutil.which("chroot"), str(bundle / "rootfs"), program],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_binaries_cgo_host_and_all(tmp_path):
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={
            "src/go/cmd/server/BUILD": (
                'ko_image(name="server", platforms=["linux/amd64", "linux/arm64"])\n'
                'ko_image(name="both", binaries=["../worker"], platforms=["host"])\n'
            ),
            "src/go/cmd/cgohello/main.go": CGO_MAIN,
            "src/go/cmd/cgohello/BUILD": 'ko_image(name="cgohello", cgo=True, base_image="./libc-base")\n',
        },
    )
    write_libc_base_layout(repo.root / "src/go/cmd/cgohello/libc-base")
    repo.pants("package", "src/go/cmd/server:both", "src/go/cmd/cgohello", "src/go/cmd/server:server")

    # Two binaries in one image; `host` is this machine's platform.
    both = repo.root / "dist/src.go.cmd.server/both"
    bundle = image_tools.umoci_unpack(both, "latest", tmp_path / "both")
    assert sorted(p.name for p in (bundle / "rootfs/ko-app").iterdir()) == ["server", "worker"]
    assert "hello from worker on linux/amd64" in run_in_rootfs(bundle, "/ko-app/worker")
    config = image_tools.skopeo_inspect(f"oci:{both}:latest", extra=["--config"])
    assert config["config"]["Entrypoint"] == ["/ko-app/server"] and config["architecture"] == "amd64"

    # cgo on a libc base read from an OCI layout folder in the repository.
    cgo = repo.root / "dist/src.go.cmd.cgohello/cgohello"
    bundle = image_tools.umoci_unpack(cgo, "latest", tmp_path / "cgo")
    binary = (bundle / "rootfs/ko-app/cgohello").read_bytes()
    assert b"ld-linux-x86-64.so.2" in binary  # dynamically linked
    assert run_in_rootfs(bundle, "/ko-app/cgohello") == "cgo says 42\n"

    # `all`: every platform of a base index (the server index, as an OCI layout base).
    shutil.copytree(repo.root / "dist/src.go.cmd.server/server", repo.root / "src/go/cmd/worker/index-base")
    repo.write(
        "src/go/cmd/worker/BUILD",
        'ko_image(name="worker", base_image="./index-base", platforms=["all"])\nko_go_package(name="pkg")\n',
    )
    repo.pants("package", "src/go/cmd/worker")
    index = json.loads(image_tools.skopeo_inspect(f"oci:{repo.root / 'dist/src.go.cmd.worker/worker'}:latest", raw=True))
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
