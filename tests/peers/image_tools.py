"""Real tools around built images: a tiny Go program, skopeo, umoci, chroot, runc, qemu.

Helpers other test files reuse:

- `build_go_program(workdir, platform)`: a static stdlib-only Go binary (CGO_ENABLED=0,
  -trimpath, offline) that prints `hello from <os>/<arch> pid=<pid> args=[...]` and the
  content of `$KO_DATA_PATH/message.txt` (or `no kodata: <error>`);
- `write_tree(root, files)`: write a path -> bytes mapping (a layout from `layout_files`);
- `skopeo(*args)` / `skopeo_inspect(ref, raw=...)`;
- `umoci_unpack(layout_dir, tag, bundle)` and `bundle_process(bundle)` (argv, env, cwd);
- `run_chroot(bundle)`, `run_runc(bundle, tmp)`, `run_qemu_aarch64(bundle)`: run the image's
  entrypoint with the image's environment and return the completed process.

Everything runs with timeouts and leaves nothing running. chroot and runc need root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Mapping, Sequence

from pants_backend_ko.oci.platform import Platform
from tests.peers.go_reference import go_env

TOOL_TIMEOUT = 120

HELLO_GO = r"""package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	fmt.Printf("hello from %s/%s pid=%d args=%q\n", runtime.GOOS, runtime.GOARCH, os.Getpid(), os.Args[1:])
	data, err := os.ReadFile(filepath.Join(os.Getenv("KO_DATA_PATH"), "message.txt"))
	if err != nil {
		fmt.Printf("no kodata: %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("kodata: %s\n", data)
}
"""


def build_go_program(workdir: Path, platform: Platform, *, source: str = HELLO_GO, name: str = "hello") -> bytes:
    """Cross-compile a stdlib-only Go program for `platform` and return the binary's bytes."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(f"module example.com/{name}\n\ngo 1.22\n")
    (workdir / "main.go").write_text(source)
    workdir = workdir.resolve()
    out = workdir / f"{name}-{platform.os}-{platform.architecture}"
    env = go_env(offline=True)
    env.update(platform.go_env())
    result = subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-buildid=", "-o", str(out), "."],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go build for {platform} failed:\n{result.stderr[-4000:]}")
    return out.read_bytes()


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _run(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("timeout", TOOL_TIMEOUT)
    # Resolve the tool on the host PATH: `env=` may carry the image's PATH (`/ko-app`).
    tool = shutil.which(argv[0])
    if tool is None:
        raise AssertionError(f"{argv[0]} is not installed (see tests/run for the Debian packages)")
    return subprocess.run([tool, *argv[1:]], **kwargs)


def _check(result: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace") if isinstance(result.stderr, bytes) else result.stderr
        raise AssertionError(f"{what} failed with exit {result.returncode}: {stderr[-3000:]}")
    return result


def skopeo(*args: str) -> subprocess.CompletedProcess:
    # A private policy accepting everything: tests must not depend on /etc/containers.
    return _check(_run(["skopeo", "--insecure-policy", *args]), "skopeo " + " ".join(args))


def skopeo_inspect(ref: str, *, raw: bool = False, extra: Sequence[str] = ()) -> dict | bytes:
    result = skopeo("inspect", *(["--raw"] if raw else []), *extra, ref)
    return result.stdout if raw else json.loads(result.stdout)


def umoci_unpack(layout_dir: Path, tag: str, bundle: Path) -> Path:
    _check(_run(["umoci", "unpack", "--image", f"{layout_dir}:{tag}", str(bundle)]), "umoci unpack")
    return bundle


def bundle_process(bundle: Path) -> dict:
    """The `process` of the runtime config umoci generated from the image config."""
    return json.loads((bundle / "config.json").read_text())["process"]


def _env_dict(entries: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


def run_chroot(bundle: Path) -> subprocess.CompletedProcess:
    """Run the bundle's process (image entrypoint + cmd) in its rootfs with the image's env."""
    process = bundle_process(bundle)
    return _run(["chroot", str(bundle / "rootfs"), *process["args"]], env=_env_dict(process["env"]), text=True)


def run_qemu_aarch64(bundle: Path) -> subprocess.CompletedProcess:
    """Run an arm64 entrypoint with qemu-user; `-L` maps absolute paths (kodata) into the rootfs."""
    process = bundle_process(bundle)
    rootfs = bundle / "rootfs"
    argv = process["args"]
    return _run(
        ["qemu-aarch64-static", "-L", str(rootfs), str(rootfs) + argv[0], *argv[1:]],
        env=_env_dict(process["env"]),
        text=True,
    )


def run_runc(bundle: Path, state_root: Path) -> subprocess.CompletedProcess:
    """`runc run` the bundle (no terminal, private state root, unique id), then delete it."""
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["terminal"] = False  # umoci writes true; runc then wants a console socket
    config_path.write_text(json.dumps(config))
    container_id = "ko-test-" + uuid.uuid4().hex[:12]
    state_root.mkdir(parents=True, exist_ok=True)
    runc = ["runc", "--root", str(state_root)]
    try:
        return _run([*runc, "run", "--bundle", str(bundle), container_id], stdin=subprocess.DEVNULL, text=True)
    finally:
        _run([*runc, "delete", "--force", container_id])


def is_root() -> bool:
    return os.geteuid() == 0
