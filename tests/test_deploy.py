"""`ko_manifests` end to end: render, `pants run :apply`/`:delete`, `experimental-deploy` and the
`--loop` edit-deploy cycle, against a real kube-apiserver + etcd and a real registry."""

from __future__ import annotations

import difflib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.peers.pants_repo import ScratchRepo, make_scratch_repo
from tests.peers.registry import skopeo

pytestmark = pytest.mark.peers


@pytest.fixture
def deploy_env(registry_plain, kube, unique_repo):
    return {"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}", "KUBECONFIG": str(kube.kubeconfig)}


def deployed_image(kube, namespace: str, kind: str, name: str) -> str:
    out = kube.kubectl(
        "-n", namespace, "get", kind, name, "-o", "jsonpath={.spec.template.spec.containers[0].image}", check=True
    ).stdout
    return out.strip()


def rendered_images(repo: ScratchRepo) -> dict:
    import yaml

    docs = list(yaml.safe_load_all((repo.root / "dist/src.config/apply.yaml").read_text()))
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in docs if d["kind"] != "Service"}


def test_render_differs_from_source_only_at_ko_references(tmp_path, deploy_env):
    repo = make_scratch_repo(tmp_path / "repo")
    repo.pants("package", "src/config:apply", "src/go::", env=deploy_env)
    for name in ("deployment.yaml", "service.yaml"):
        source = (repo.root / "src/config" / name).read_text()
        rendered = (repo.root / "dist/src.config/apply" / name).read_text()
        changed = [
            (source[i1:i2], rendered[j1:j2])
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, source, rendered, autojunk=False).get_opcodes()
            if op != "equal"
        ]
        for old, new in changed:
            assert "ko://" in old or old == "" or old in "ko://example.com/app/cmd/serverworker", (old, new)
        assert ("ko://" in source) == bool(changed)
    images = rendered_images(repo)
    for name, output in (("example-server", "server"), ("example-worker", "worker")):
        meta = repo.image_metadata(f"src.go.cmd.{output}/{output}")
        assert images[name] == f"{meta['repository']}@{meta['digest']}"


def test_run_apply_deploys_digests_and_delete_removes(tmp_path, kube, registry_plain, deploy_env):
    repo = make_scratch_repo(tmp_path / "repo")
    namespace = kube.create_namespace("apply")
    repo.pants("run", "src/config:apply", "--", "-n", namespace, env=deploy_env)
    repo.pants("package", "src/config:apply", "src/go::", env=deploy_env)
    expected = rendered_images(repo)
    for name, image in expected.items():
        kind = "deployment" if name == "example-server" else "job"
        assert deployed_image(kube, namespace, kind, name) == image
        assert "@sha256:" in image
        # The digest the cluster runs exists in the registry.
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{image}")
    assert kube.kubectl("-n", namespace, "get", "service", "example-server", check=True).returncode == 0

    repo.pants("run", "src/config:delete", "--", "-n", namespace, env=deploy_env)
    for kind, name in (("deployment", "example-server"), ("job", "example-worker"), ("service", "example-server")):
        assert "NotFound" in kube.kubectl("-n", namespace, "get", kind, name).stderr


def test_experimental_deploy_publishes_first(tmp_path, kube, registry_plain, deploy_env):
    repo = make_scratch_repo(
        tmp_path / "repo",
        files={"src/config/BUILD": 'ko_manifests(name="apply", kubectl_args=["-n", "{ns}"])\n'},
    )
    namespace = kube.create_namespace("deploy")
    (repo.root / "src/config/BUILD").write_text(f'ko_manifests(name="apply", kubectl_args=["-n", "{namespace}"])\n')
    result = repo.pants("experimental-deploy", "src/config:apply", env=deploy_env)
    assert "Publishing" in result.stderr or "published" in result.stderr
    repo.pants("package", "src/config:apply", "src/go::", env=deploy_env)
    for name, image in rendered_images(repo).items():
        kind = "deployment" if name == "example-server" else "job"
        assert deployed_image(kube, namespace, kind, name) == image


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_loop_run_redeploys_only_the_edited_image(tmp_path, kube, registry_plain, deploy_env):
    repo = make_scratch_repo(tmp_path / "repo")
    namespace = kube.create_namespace("loop")
    env = {**os.environ, **deploy_env}
    env.pop("PANTS_KO_NO_LOOP", None)
    log = open(tmp_path / "loop.log", "w")
    process = subprocess.Popen(
        [str(repo.root / "pants"), "--no-pantsd", "--no-dynamic-ui", "--loop", "--loop-max=2",
         "run", "src/config:apply", "--", "-n", namespace],
        cwd=repo.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def server_image():
            r = kube.kubectl("-n", namespace, "get", "deployment", "example-server",
                             "-o", "jsonpath={.spec.template.spec.containers[0].image}")
            return r.stdout.strip() if r.returncode == 0 else None

        first_server = wait_for(server_image, 600, "the first apply")
        first_worker = deployed_image(kube, namespace, "job", "example-worker")
        time.sleep(2)  # let the loop start watching
        main_go = repo.root / "src/go/cmd/server/main.go"
        main_go.write_text(main_go.read_text().replace('Hello("server")', 'Hello("edited server")'))
        second_server = wait_for(lambda: (server_image() or first_server) != first_server and server_image(),
                                 600, "the re-apply after the edit")
        assert second_server != first_server and "@sha256:" in second_server
        assert deployed_image(kube, namespace, "job", "example-worker") == first_worker
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        log.close()
    output = (tmp_path / "loop.log").read_text()
    # The second iteration pushed only the server image (worker's was present already).
    assert output.count("0 uploaded") >= 1, output[-3000:]
