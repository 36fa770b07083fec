"""`pants package` of ko_image targets in a scratch repository, checked with tools we did not
write: skopeo reads the layout and the docker archive, umoci unpacks it, and the entrypoint runs
(chroot and runc for amd64, qemu-aarch64-static for arm64) and prints what the program prints."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.peers import image_tools
from tests.peers.pants_repo import make_scratch_repo, pants_args_for_isolated_caches

SERVER = "src.go.cmd.server/server"
WORKER = "src.go.cmd.worker/worker"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    repo = make_scratch_repo(tmp_path_factory.mktemp("repo"))
    repo.pants("package", "src/go::")
    return repo


def skopeo_digest(target: str) -> str:
    return "sha256:" + hashlib.sha256(image_tools.skopeo_inspect(target, raw=True)).hexdigest()


def unpack_platform(layout: Path, tag: str, arch: str, workdir: Path) -> Path:
    """One platform of a layout (an index or an image), unpacked by umoci into a bundle."""
    workdir.mkdir(parents=True, exist_ok=True)
    single = workdir / "single"
    image_tools.skopeo("copy", "--override-arch", arch, f"oci:{layout}:{tag}", f"oci:{single}:x")
    return image_tools.umoci_unpack(single, "x", workdir / "bundle")


def image_config(layout: Path, tag: str, arch: str) -> dict:
    raw = image_tools.skopeo_inspect(f"oci:{layout}:{tag}", raw=False, extra=["--config", "--override-arch", arch])
    return raw


def run_entrypoint(bundle: Path, args: list, arch: str) -> str:
    """Runs the image's entrypoint (with extra args) from the unpacked rootfs: chroot or qemu."""
    process = image_tools.bundle_process(bundle)
    env = dict(e.split("=", 1) for e in process["env"])
    rootfs = bundle / "rootfs"
    argv = [*process["args"], *args]
    if arch == "amd64":
        cmd = [shutil.which("chroot"), str(rootfs), *argv]
    else:
        cmd = [shutil.which("qemu-aarch64-static"), "-L", str(rootfs), str(rootfs) + argv[0], *argv[1:]]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_multi_platform_index_runs_on_both_platforms(packaged, tmp_path):
    meta = packaged.image_metadata(SERVER)
    layout = packaged.root / "dist" / SERVER
    assert meta["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert set(meta["platforms"]) == {"linux/amd64", "linux/arm64"}
    assert meta["import_path"] == "example.com/app/cmd/server"
    # skopeo reads the nested index and agrees on its digest.
    assert skopeo_digest(f"oci:{layout}:latest") == meta["digest"]
    index = json.loads(image_tools.skopeo_inspect(f"oci:{layout}:latest", raw=True))
    assert [(m["platform"]["os"], m["platform"]["architecture"]) for m in index["manifests"]] == [
        ("linux", "amd64"), ("linux", "arm64")]

    for arch in ("amd64", "arm64"):
        bundle = unpack_platform(layout, "latest", arch, tmp_path / arch)
        config = image_config(layout, "latest", arch)
        assert config["config"]["Entrypoint"] == ["/ko-app/server"]
        assert "KO_DATA_PATH=/var/run/ko" in config["config"]["Env"]
        assert "PATH=/ko-app" in config["config"]["Env"]
        assert config["config"]["Labels"] == {"org.opencontainers.image.source": "https://example.com/app"}
        out = run_entrypoint(bundle, ["-once"], arch)
        assert f"hello from server on linux/{arch}" in out
        assert "kodata: message from kodata" in out


def test_single_platform_image_runs_under_runc_and_docker_archive_loads(packaged, tmp_path):
    meta = packaged.image_metadata(WORKER)
    layout = packaged.root / "dist" / WORKER
    assert meta["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert skopeo_digest(f"oci:{layout}:latest") == meta["digest"]
    bundle = image_tools.umoci_unpack(layout, "latest", tmp_path / "bundle")
    result = image_tools.run_runc(bundle, tmp_path / "runc")
    assert result.returncode == 0, result.stderr
    assert "hello from worker on linux/amd64" in result.stdout
    # The docker archive is readable by skopeo as docker-archive:, and holds the same image.
    archive = packaged.root / "dist" / f"{WORKER}.tar"
    copied = tmp_path / "copied"
    image_tools.skopeo("copy", f"docker-archive:{archive}", f"oci:{copied}:x")
    config = image_config(copied, "x", "amd64")
    assert config["config"]["Entrypoint"] == ["/ko-app/worker"]


def test_package_writes_ko_layers_and_metadata(packaged):
    meta = packaged.image_metadata(WORKER)
    layout = packaged.root / "dist" / WORKER
    config = image_config(layout, "latest", "amd64")
    # kodata first, then the app layer; worker has no kodata: ko's constant empty kodata layer.
    assert config["rootfs"]["diff_ids"][0] == (
        "sha256:ffe56a1c5f3878e9b5f803842adb9e2ce81584b6bd027e8599582aefe14a975b")
    assert [h["created_by"] for h in config["history"]] == ["ko build ko://example.com/app/cmd/worker"] * 2
    assert meta["repository"].startswith("localhost:5000/example/worker-")
    assert meta["references"][0] == f"{meta['repository']}@{meta['digest']}"


def test_reproducible_across_checkouts_and_cold_caches(packaged, tmp_path):
    other = make_scratch_repo(tmp_path / "other")
    other.pants(*pants_args_for_isolated_caches(tmp_path / "caches"), "package", "src/go::")
    for output in (SERVER, WORKER):
        assert other.image_metadata(output)["digest"] == packaged.image_metadata(output)["digest"]


def _go_builds_run(stderr: str) -> list[str]:
    """The `go build` processes that actually executed (cache hits spawn nothing)."""
    return re.findall(r'spawned local process .*?description: "go build (\S+) \((\S+)\)', stderr)


def test_editing_one_binary_rebuilds_only_that_binary(tmp_path):
    repo = make_scratch_repo(tmp_path / "repo")
    repo.pants("package", "src/go::")
    before = repo.image_metadata(SERVER)["digest"], repo.image_metadata(WORKER)["digest"]
    main_go = repo.root / "src/go/cmd/worker/main.go"
    # A nonce: the persistent process cache must not already hold a build of the edited source.
    nonce = uuid.uuid4().hex[:8]
    main_go.write_text(main_go.read_text().replace('Hello("worker")', f'Hello("worker {nonce}")'))
    result = repo.pants("-ldebug", "package", "src/go::")
    assert _go_builds_run(result.stderr) == [("example.com/app/cmd/worker", "linux/amd64")]
    after = repo.image_metadata(SERVER)["digest"], repo.image_metadata(WORKER)["digest"]
    assert after[0] == before[0] and after[1] != before[1]
    # Editing the shared library rebuilds both binaries, for every platform.
    lib = repo.root / "src/go/internal/greeting/greeting.go"
    lib.write_text(lib.read_text().replace("hello from", f"hi {nonce} from"))
    result = repo.pants("-ldebug", "package", "src/go::")
    assert sorted(_go_builds_run(result.stderr)) == [
        ("example.com/app/cmd/server", "linux/amd64"),
        ("example.com/app/cmd/server", "linux/arm64"),
        ("example.com/app/cmd/worker", "linux/amd64"),
    ]


def test_multi_platform_archive_loads_every_platform(packaged, tmp_path):
    """ko writes tarballs for one platform only (ko issue 1708); ours hold every platform."""
    meta = packaged.image_metadata(SERVER)
    archive = packaged.root / "dist" / f"{SERVER}.tar"
    for arch in ("amd64", "arm64"):
        out = tmp_path / arch
        image_tools.skopeo("copy", f"docker-archive:{archive}:{meta['repository']}:latest-linux-{arch}", f"oci:{out}:x")
        config = image_tools.skopeo_inspect(f"oci:{out}:x", extra=["--config"])
        assert config["architecture"] == arch
        assert config["config"]["Entrypoint"] == ["/ko-app/server"]
    # The same file is an OCI layout archive of the whole index.
    everything = tmp_path / "all"
    image_tools.skopeo("copy", "--all", f"oci-archive:{archive}:latest", f"oci:{everything}:x")
    index = json.loads(image_tools.skopeo_inspect(f"oci:{everything}:x", raw=True))
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]


def test_kodata_folders_anywhere_in_the_image_folder_and_what_pants_cannot_see(tmp_path):
    # issue 17: `kodata="."` is the image's own folder, written exactly (no character of any
    # name lost); a folder outside the image's folders, a FIFO, a name that is not UTF-8 and a
    # hidden folder Pants ignores are each one line naming the target, never a silent image.
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={
            "src/go/cmd/worker/BUILD": (
                'ko_image(name="worker", kodata=".", platforms=["linux/amd64"])\n'
                'ko_image(name="outside", kodata="../../../..", platforms=["linux/amd64"])\n'
                'ko_go_package(name="pkg")\nko_kodata(name="own", sources=["*", "data/**"])\n'
            ),
            "src/go/cmd/worker/data/config.json": "{}\n",
            "src/go/cmd/server/kodata/.well-known/security.txt": "Contact: x\n",
        },
    )
    repo.pants("package", "src/go/cmd/worker:worker")
    layout = repo.root / "dist/src.go.cmd.worker/worker"
    manifest = json.loads(image_tools.skopeo_inspect(f"oci:{layout}:latest", raw=True))
    kodata_layer = (layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(kodata_layer))) as layer:
        names = layer.getnames()
    assert names[:3] == ["/var", "/var/run", "/var/run/ko"]
    assert {"/var/run/ko/main.go", "/var/run/ko/data", "/var/run/ko/data/config.json"} <= set(names)

    outside = repo.pants("package", "src/go/cmd/worker:outside", check=False)
    assert outside.returncode != 0
    assert (
        "src/go/cmd/worker:outside: `kodata='../../../..'` is the repository root, not inside the main "
        "package's folder (src/go/cmd/worker) or the BUILD file's folder (src/go/cmd/worker)"
    ) in outside.stderr

    kodata = repo.root / "src/go/cmd/server/kodata"
    hidden = repo.pants("package", "src/go/cmd/server", check=False)
    assert hidden.returncode != 0
    assert "src/go/cmd/server:server: the kodata entry src/go/cmd/server/kodata/.well-known is ignored by Pants" in hidden.stderr
    shutil.rmtree(kodata / ".well-known")
    os.mkfifo(kodata / "pipe")
    fifo = repo.pants("package", "src/go/cmd/server", check=False)
    assert fifo.returncode != 0
    assert "the kodata entry src/go/cmd/server/kodata/pipe is a FIFO (named pipe)" in fifo.stderr
    (kodata / "pipe").unlink()
    with open(os.fsencode(kodata) + b"/caf\xe9.txt", "w") as f:  # Latin-1, not UTF-8
        f.write("x")
    latin1 = repo.pants("package", "src/go/cmd/server", check=False)
    assert latin1.returncode != 0
    assert "the kodata entry src/go/cmd/server/kodata/caf\\xe9.txt has a name that is not UTF-8" in latin1.stderr
    for result in (outside, hidden, fifo, latin1):
        assert "Traceback" not in result.stderr
