"""``python -m pants_backend_ko.tool`` as a process: one stdout line, one error line, exit codes;
the typed messages of its verbs written and read as the Pants rules do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.tool.messages import ImagePush, PushPlan, StatusQuery
from tests.peers.registry import BASIC_PASSWORD, skopeo, write_test_layout

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT / "pants-plugins"), **env}
    return subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.tool", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        timeout=120,
        text=True,
    )


def test_push_and_inspect(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    layout = write_test_layout(str(tmp_path / "l"))
    env = peer.docker_config_env(str(tmp_path / "dc"))
    out_json = tmp_path / "result.json"
    proc = run_cli(
        "push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}", "--tag", "v1", "--tag", "latest",
        "--ca-bundle", peer.ca_bundle, "--json-output", str(out_json), env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{peer.host}/{unique_repo}@{layout.root_digest}\n"
    result = json.loads(out_json.read_text())
    assert result["digest"] == layout.root_digest and result["tags"] == ["v1", "latest"]
    assert result["blobs"] == {"uploaded": 5, "mounted": 0, "skipped": 0}
    assert skopeo("inspect", "--format", "{{.Digest}}", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo, 'v1')}").decode().strip() == layout.root_digest

    inspect = run_cli("inspect", peer.ref(unique_repo, "v1"), "--ca-bundle", peer.ca_bundle, env=env)
    assert (inspect.returncode, inspect.stdout) == (0, layout.root_digest + "\n")
    raw = run_cli("inspect", "--raw", peer.ref(unique_repo, "v1"), "--ca-bundle", peer.ca_bundle, env=env)
    assert raw.stdout.encode() == layout.root_bytes

    verbose = run_cli("-v", "push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}-2",
                      "--mount-from", f"{layout.images[0].config_digest}={unique_repo}", "--ca-bundle", peer.ca_bundle, env=env)
    assert verbose.returncode == 0 and verbose.stdout == f"{peer.host}/{unique_repo}-2@{layout.root_digest}\n"
    assert "mounted blob " + layout.images[0].config_digest in verbose.stderr
    assert BASIC_PASSWORD not in verbose.stderr


def test_errors_are_one_line_with_exit_code_1(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    layout = write_test_layout(str(tmp_path / "l"), single=True)
    no_creds = {"DOCKER_CONFIG": str(tmp_path / "none")}
    proc = run_cli("push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}", "--ca-bundle", peer.ca_bundle, env=no_creds)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: registry {peer.host}: HEAD /v2/{unique_repo}/manifests/")
    assert "401 UNAUTHORIZED (credentials tried: none (anonymous" in proc.stderr

    bad = run_cli("push", "--layout", layout.path, "--repository", f"{peer.host}/Bad/Name", env=no_creds)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "upper-case" in bad.stderr
    missing = run_cli("push", "--layout", str(tmp_path / "nope"), "--repository", f"{peer.host}/{unique_repo}", env=no_creds)
    assert missing.returncode == 1 and missing.stderr == f"error: OCI layout {tmp_path / 'nope'}: not a directory; pass the directory that holds oci-layout and index.json\n"
    mount = run_cli("push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}", "--mount-from", "nodigest", env=no_creds)
    assert mount.returncode == 1 and "--mount-from 'nodigest': write it as sha256:<hex>=<repository>" in mount.stderr


def test_push_plan_pushes_every_image_and_reports_each_failure(registry_tls, tmp_path, unique_repo):
    # The one process `pants publish` runs for every image that needs a push: all images are
    # attempted in parallel; the good one is pushed and printed even though the other fails.
    peer = registry_tls
    plan_dir = tmp_path / "plan"
    good = write_test_layout(str(plan_dir / "images/0"))
    bad = write_test_layout(str(plan_dir / "images/1"), single=True, seed=3)
    plan = PushPlan(
        images=(
            ImagePush(layout="images/0", repository=f"{peer.host}/{unique_repo}/good", tags=("latest",)),
            ImagePush(layout="images/1", repository=f"{peer.host}/{unique_repo}/bad", tags=("-not-a-tag",)),
        ),
        jobs=2,
    )
    (plan_dir / "plan.json").write_bytes(encode(plan))
    env = peer.docker_config_env(str(tmp_path / "dc"))
    proc = run_cli("push-plan", "--plan", str(plan_dir / "plan.json"), "--ca-bundle", peer.ca_bundle, env=env)
    assert proc.returncode == 1
    assert proc.stdout == f"{peer.host}/{unique_repo}/good@{good.root_digest}\n"
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {peer.host}/{unique_repo}/bad: invalid tag '-not-a-tag'"), line
    assert skopeo("inspect", "--format", "{{.Digest}}", *peer.skopeo_flags(), f"docker://{peer.ref(unique_repo + '/good', 'latest')}").decode().strip() == good.root_digest
    assert BASIC_PASSWORD not in proc.stdout + proc.stderr
    assert bad.root_digest not in proc.stdout

    # The read-only check `pants publish` runs first: the good image is there under its tag.
    query = tmp_path / "query.json"
    good_repo, bad_repo = f"{peer.host}/{unique_repo}/good", f"{peer.host}/{unique_repo}/bad"
    query.write_bytes(encode(StatusQuery((RepositoryQuery(good_repo, ("latest",)), RepositoryQuery(bad_repo, ("v1",))), sbom=False)))
    status = run_cli("status", "--query", str(query), "--ca-bundle", peer.ca_bundle, env=env)
    assert (status.returncode, status.stderr) == (0, "")
    state = decode(RegistryState, status.stdout.encode(), "status answer")
    assert state.tags == {f"{good_repo}:latest": good.root_digest, f"{bad_repo}:v1": None}
    assert state.is_published(good_repo, good.root_digest, ["latest"])
