"""A repository configured for ko keeps its `.ko.yaml` and `KO_*` variables: defaults, builds[]
with templated ldflags (git and environment data), and ko's precedence, end to end."""

from __future__ import annotations

import subprocess

from tests.peers import image_tools
from tests.peers.pants_repo import make_scratch_repo

KO_YAML = """\
defaultBaseImage: scratch
defaultPlatforms: [linux/arm64]
builds:
  - id: worker
    main: ./src/go/cmd/worker
    ldflags:
      - -X main.version={{.Git.ShortCommit}}-{{.Env.BUILD_FLAVOR}}
"""

WORKER_MAIN = """\
package main

import (
	"fmt"

	"example.com/app/internal/greeting"
)

var version = "dev"

func main() {
	fmt.Println(greeting.Hello("worker"), "version", version)
}
"""


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def test_ko_yaml_defaults_builds_templates_and_precedence(tmp_path):
    repo = make_scratch_repo(tmp_path / "repo", files={".ko.yaml": KO_YAML, "src/go/cmd/worker/main.go": WORKER_MAIN})
    (repo.root / ".gitignore").write_text("dist/\n.pants.d/\n.pids/\n")
    git(repo.root, "init", "-q")
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    short = git(repo.root, "rev-parse", "--short", "HEAD")

    repo.pants("package", "src/go::", env={"BUILD_FLAVOR": "blue"})
    worker = repo.image_metadata("src.go.cmd.worker/worker")
    # defaultPlatforms from .ko.yaml (no BUILD `platforms`): one arm64 image.
    assert list(worker["platforms"]) == ["linux/arm64"]
    assert worker["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    # The BUILD field wins over .ko.yaml.
    assert sorted(repo.image_metadata("src.go.cmd.server/server")["platforms"]) == ["linux/amd64", "linux/arm64"]
    bundle = image_tools.umoci_unpack(repo.root / "dist/src.go.cmd.worker/worker", "latest", tmp_path / "bundle")
    out = image_tools.run_qemu_aarch64(bundle).stdout
    assert f"version {short}-blue" in out, out

    # KO_DEFAULTPLATFORMS overrides .ko.yaml, as in ko; a new flavour re-renders the ldflags.
    repo.pants("package", "src/go/cmd/worker", env={"BUILD_FLAVOR": "green", "KO_DEFAULTPLATFORMS": "linux/amd64"})
    worker = repo.image_metadata("src.go.cmd.worker/worker")
    assert list(worker["platforms"]) == ["linux/amd64"]
    bundle = image_tools.umoci_unpack(repo.root / "dist/src.go.cmd.worker/worker", "latest", tmp_path / "bundle2")
    assert f"version {short}-green" in image_tools.run_chroot(bundle).stdout


def test_ko_yaml_errors_name_file_and_line(tmp_path):
    repo = make_scratch_repo(tmp_path / "repo", files={".ko.yaml": "defaultBaseImage: scratch\ndefaultPlatfroms: [linux/arm64]\n"})
    result = repo.pants("package", "src/go/cmd/worker", check=False)
    assert result.returncode != 0
    assert ".ko.yaml:2" in result.stderr and "defaultPlatfroms" in result.stderr
