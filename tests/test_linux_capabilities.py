"""ko's `linux_capabilities`: the binary's file capabilities, written as ko v0.19.1 writes them.

The same program with the same capabilities goes through the real ko (`.ko.yaml`
`builds[].linux_capabilities`, `ko build`) and through `./pants package` (the `.ko.yaml`
value, and the `linux_capabilities` field spelled differently): the app layer's diffID and the
manifest digest are ko's. Tools we did not write see the capability: umoci unpacks the layout
(applying the `SCHILY.xattr.security.capability` record as a real xattr) and libcap's `getcap`
reads it. An unknown capability name is one line naming the target and the fix."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.peers.go_reference import ko_binary
from tests.peers.image_tools import is_root, run_runc, umoci_unpack
from tests.peers.pants_repo import make_scratch_repo
from tests.peers.registry import skopeo

pytestmark = pytest.mark.peers

MAIN_GO = """package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\\n") {
		if strings.HasPrefix(line, "CapEff:") || strings.HasPrefix(line, "CapPrm:") {
			fmt.Println(line)
		}
	}
}
"""
KO_YAML_CAPABILITIES = ["cap_net_bind_service+ep", "chown"]
# The same sets, written as the field (names and a cap_from_text clause in another spelling).
FIELD_CAPABILITIES = ["CAP_CHOWN", "NET_BIND_SERVICE=pe"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_empty_base(registry, repository: str, tmp_path: Path) -> str:
    """A linux/amd64 base image without layers (ko has no `scratch`): the binary is static."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config), "digest": sha256(config)},
            "layers": [],
        }
    ).encode()
    layout = tmp_path / "base"
    for data in (config, manifest):
        (layout / "blobs/sha256").mkdir(parents=True, exist_ok=True)
        (layout / "blobs/sha256" / sha256(data)[7:]).write_bytes(data)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(manifest)}
    descriptor.update(digest=sha256(manifest), annotations={"org.opencontainers.image.ref.name": "v1"})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    ref = f"{registry.host}/{repository}:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{ref}")
    return ref


def app_diff_id(config: bytes) -> str:
    return json.loads(config)["rootfs"]["diff_ids"][-1]


def getcap(bundle: Path) -> str:
    result = subprocess.run(
        ["getcap", str(bundle / "rootfs/ko-app/app")], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.replace(str(bundle / "rootfs"), "").strip()


def test_linux_capabilities_are_kos_bytes_and_getcap_sees_them(tmp_path, registry_plain, unique_repo):
    base_ref = push_empty_base(registry_plain, f"{unique_repo}/base", tmp_path)
    ko_yaml = (
        f"defaultBaseImage: {base_ref}\ndefaultPlatforms: [linux/amd64]\n"
        f"builds:\n- id: app\n  main: ./cmd/app\n  linux_capabilities: {json.dumps(KO_YAML_CAPABILITIES)}\n"
    )
    files = {
        "go.mod": "module example.com/capsapp\n\ngo 1.22\n",
        "cmd/app/main.go": MAIN_GO,
        ".ko.yaml": ko_yaml,
        "cmd/app/BUILD": (
            'ko_image(name="app")\n'
            f'ko_image(name="spelled", linux_capabilities={FIELD_CAPABILITIES!r})\n'
            'ko_image(name="none", linux_capabilities=[])\n'
        ),
        "bad/BUILD": 'ko_image(main="../cmd/app", linux_capabilities=["cap_net_bind_servic+ep"])\n',
    }
    repo = make_scratch_repo(tmp_path / "repo", example=False, files=files)

    # The real ko, on the same sources.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KO_", "GOFLAGS"))}
    ko = subprocess.run(
        [str(ko_binary()), "build", "--sbom=none", "./cmd/app"],
        cwd=repo.root,
        env={**env, "KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}/ko"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ko.returncode == 0, ko.stderr[-3000:]
    ko_ref = ko.stdout.strip().splitlines()[-1]
    ko_manifest = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ko_ref}")
    ko_config = skopeo("inspect", "--config", "--raw", "--tls-verify=false", f"docker://{ko_ref}")
    assert json.loads(ko_manifest)["mediaType"].endswith("manifest.v1+json")

    repo.pants("package", "cmd/app:app", "cmd/app:spelled", "cmd/app:none")
    capabilities_seen = {}
    for name in ("app", "spelled", "none"):
        layout = repo.root / "dist/cmd.app" / name
        config = skopeo("inspect", "--config", "--raw", f"oci:{layout}:latest")
        manifest = skopeo("inspect", "--raw", f"oci:{layout}:latest")
        same = (app_diff_id(config), sha256(manifest)) == (app_diff_id(ko_config), ko_ref.split("@")[1])
        assert same == (name != "none"), name
        capabilities_seen[name] = getcap(umoci_unpack(layout, "latest", tmp_path / f"bundle-{name}"))
    assert capabilities_seen == {
        "app": "/ko-app/app cap_chown,cap_net_bind_service=ep",
        "spelled": "/ko-app/app cap_chown,cap_net_bind_service=ep",
        "none": "",
    }

    # The kernel grants them at execve: the program, run by runc as a non-root user that starts
    # with no capabilities (and may gain some: no_new_privs off), has CAP_CHOWN and
    # CAP_NET_BIND_SERVICE (bits 0 and 10) permitted and effective; without them it has none.
    # (With umoci's defaults, no_new_privs and a bounding set without CAP_CHOWN, the kernel
    # refuses to exec a binary whose effective file capabilities it cannot all grant: EPERM.)
    assert is_root(), "runc needs root"
    for name, expected in (("app", "0000000000000401"), ("none", "0000000000000000")):
        bundle = tmp_path / f"bundle-{name}"
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["user"] = {"uid": 65532, "gid": 65532}
        config["process"]["noNewPrivileges"] = False
        config["process"]["capabilities"] = {
            "bounding": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            **{kind: [] for kind in ("effective", "permitted", "inheritable", "ambient")},
        }
        (bundle / "config.json").write_text(json.dumps(config))
        run = run_runc(bundle, tmp_path / "runc-state")
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["CapPrm:", expected, "CapEff:", expected], (name, run.stdout)

    # ko's own image, unpacked by the same tools, carries the same capability.
    skopeo("copy", "--src-tls-verify=false", f"docker://{ko_ref}", f"oci:{tmp_path / 'ko-layout'}:latest")
    assert getcap(umoci_unpack(tmp_path / "ko-layout", "latest", tmp_path / "bundle-ko")) == capabilities_seen["app"]

    # A name ko would refuse: one line naming the target, what is wrong and what to do.
    result = repo.pants("package", "bad", check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "cap_net_bind_servic" in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "bad:bad: unknown capability 'cap_net_bind_servic' in 'cap_net_bind_servic+ep'" in lines[0]
    assert "the `linux_capabilities` field" in lines[0] and "--cap-add" in lines[0]
