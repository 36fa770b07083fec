"""Smoke test of the kube-apiserver + etcd peer (tests/peers/kube.py).

Proves the peer is a real API server: kubectl client-side and server-side
apply store and return the exact image reference, the server allocates a
ClusterIP, delete really deletes, authentication rejects a wrong token (401),
RBAC rejects anonymous users (403), and teardown leaves no process behind.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.peers.kube import KubeCluster, build_binaries, kube_cluster

pytestmark = pytest.mark.peers

DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32
IMAGE_A = f"127.0.0.1:5000/demo/app@{DIGEST_A}"
IMAGE_B = f"127.0.0.1:5000/demo/app@{DIGEST_B}"


def _manifests(image: str) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  labels: {{app: demo}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: demo}}
  template:
    metadata:
      labels: {{app: demo}}
    spec:
      containers:
        - name: app
          image: {image}
---
apiVersion: v1
kind: Service
metadata:
  name: demo
spec:
  selector: {{app: demo}}
  ports:
    - port: 80
      targetPort: 8080
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with kube_cluster(tmp_path_factory) as cluster:
        yield cluster


def _get(url: str, token: str | None, ca_file: str) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _deployment_image(kube: KubeCluster, namespace: str) -> str:
    result = kube.kubectl(
        "-n", namespace, "get", "deployment", "demo",
        "-o", "jsonpath={.spec.template.spec.containers[0].image}",
        check=True,
    )
    return result.stdout


def test_server_reports_the_built_version(kube: KubeCluster) -> None:
    result = kube.kubectl("version", "-o", "json", check=True)
    server = json.loads(result.stdout)["serverVersion"]
    # build_kube.sh stamps the release like upstream does (not v0.0.0-master).
    assert server["gitVersion"] == "v" + os.environ.get("PANTS_KO_KUBE_VERSION", "1.33.13")
    assert server["major"] == "1"


def test_apply_get_delete_deployment_and_service(kube: KubeCluster) -> None:
    namespace = kube.create_namespace("apply")

    applied = kube.kubectl("-n", namespace, "apply", "-f", "-", input=_manifests(IMAGE_A), check=True)
    assert "deployment.apps/demo created" in applied.stdout
    assert "service/demo created" in applied.stdout

    assert _deployment_image(kube, namespace) == IMAGE_A
    cluster_ip = kube.kubectl(
        "-n", namespace, "get", "service", "demo", "-o", "jsonpath={.spec.clusterIP}", check=True
    ).stdout
    # Allocated by the real server from --service-cluster-ip-range=10.0.0.0/24.
    assert cluster_ip.startswith("10.0.0."), cluster_ip

    # Re-applying the same file is a no-op, as against any real cluster.
    again = kube.kubectl("-n", namespace, "apply", "-f", "-", input=_manifests(IMAGE_A), check=True)
    assert "deployment.apps/demo unchanged" in again.stdout

    deleted = kube.kubectl("-n", namespace, "delete", "-f", "-", input=_manifests(IMAGE_A), check=True)
    assert "deployment.apps \"demo\" deleted" in deleted.stdout
    for kind in ("deployment", "service"):
        gone = kube.kubectl("-n", namespace, "get", kind, "demo")
        assert gone.returncode != 0
        assert "NotFound" in gone.stderr, gone.stderr


def test_server_side_apply(kube: KubeCluster) -> None:
    namespace = kube.create_namespace("ssa")

    kube.kubectl(
        "-n", namespace, "apply", "--server-side", "--field-manager=pants-ko", "-f", "-",
        input=_manifests(IMAGE_A), check=True,
    )
    assert _deployment_image(kube, namespace) == IMAGE_A

    kube.kubectl(
        "-n", namespace, "apply", "--server-side", "--field-manager=pants-ko", "-f", "-",
        input=_manifests(IMAGE_B), check=True,
    )
    assert _deployment_image(kube, namespace) == IMAGE_B

    deployment = json.loads(
        kube.kubectl(
            "-n", namespace, "get", "deployment", "demo", "-o", "json", "--show-managed-fields",
            check=True,
        ).stdout
    )
    managers = {(m["manager"], m["operation"]) for m in deployment["metadata"]["managedFields"]}
    assert ("pants-ko", "Apply") in managers
    # Defaulting by the real server (not present in our YAML).
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"

    # A different field manager changing the image conflicts, as on a real cluster.
    conflict = kube.kubectl(
        "-n", namespace, "apply", "--server-side", "--field-manager=someone-else", "-f", "-",
        input=_manifests(IMAGE_A),
    )
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower(), conflict.stderr


def test_wrong_token_is_refused(kube: KubeCluster) -> None:
    url = f"{kube.server}/api/v1/namespaces/default"
    ca = str(kube.ca_file)
    assert _get(url, kube.token, ca)[0] == 200
    status, body = _get(url, "wrong-token-0123456789", ca)
    assert status == 401, body
    # No token at all: authenticated as anonymous, then refused by RBAC.
    assert _get(url, None, ca)[0] == 403

    via_kubectl = kube.kubectl("--token=wrong-token", "get", "namespaces")
    assert via_kubectl.returncode != 0
    assert "Unauthorized" in via_kubectl.stderr or "401" in via_kubectl.stderr, via_kubectl.stderr


def test_teardown_stops_both_servers(tmp_path_factory: pytest.TempPathFactory) -> None:
    binaries = build_binaries()
    with kube_cluster(tmp_path_factory, binaries=binaries) as cluster:
        pids = cluster.pids
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)  # running now
        assert cluster.kubectl("get", "namespace", "kube-system", check=True).returncode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
