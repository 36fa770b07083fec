"""ko.local end to end: `KO_DOCKER_REPO=ko.local pants publish` (and `pants run <ko_manifests>`)
load into a real dockerd, and the real ko v0.19.1 `ko build --local` agrees.

One scratch repository, five Pants runs (and `package` in the first two), all against the session's dockerd:

1. `pants package publish` with `DOCKER_HOST` naming no daemon: package writes the references
   (`ko.local/<name>:<hex>`, in `.ko-image.json` and in the rendered YAML) without a daemon;
   publish fails in one line and loads nothing.
2. `pants publish` of the example server (linux/amd64 + linux/arm64, kodata) and of an image on a
   `ko.local/...` base (read from the daemon): one process loads the linux/amd64 image of each.
3. `pants publish` again: the read-only check finds both in the daemon; nothing runs, the
   daemon records no load and no tag.
4. `pants run src/config:apply`: loads the worker (with `ports` and `volumes`), then applies YAML
   naming the loaded tags to the real kube-apiserver.
5. `pants experimental-deploy` with a new default tag: Pants publishes both images first (the
   daemon has them: tagged, not loaded again), then the same references are applied.

Then `ko build --local` (same `DOCKER_HOST`) of the same programs: the same repository name, tag
form, diffIDs and config, i.e. the same image ID (so ko, loading second, only tags); with
`KO_DOCKER_REPO=ko.local/other` ko's name is ours too. The loaded image runs with `docker run
--network none` and reads kodata. Last, `pants publish` with `DOCKER_HOST` at podman's
Docker-compatible socket loads the same image there, and podman runs it (the tool's calls
against podman are checked in detail in test_daemon.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.digest import digest_hex
from pants_backend_ko.oci.image import build_image, build_index
from pants_backend_ko.oci.layout import layout_files
from pants_backend_ko.oci.naming import repository_for
from pants_backend_ko.oci.platform import Platform
from tests.peers.container_engine import ContainerEngine, load_with_tool
from tests.peers.go_reference import ko_binary
from tests.peers.image_tools import skopeo, write_tree
from tests.peers.pants_repo import REPO_ROOT, ScratchRepo, make_scratch_repo

pytestmark = pytest.mark.peers

SERVER = "src.go.cmd.server/server"
ON_DAEMON_BASE = "src.go.cmd.server/on-daemon-base"
WORKER = "src.go.cmd.worker/worker"
NAME = "ko.local/server-961d4f7e2040039f268e0cc4cb46e0c9"  # ko's md5 naming of example.com/app/cmd/server
REFERENCE = re.compile(r"^(ko\.local/[a-z0-9./-]+):([0-9a-f]{64})$")
PUBLISHED = re.compile(r"(ko\.local/[a-z0-9./-]+:[0-9a-f]{64}) (published|skipped)")


@dataclass(frozen=True)
class Run:
    result: subprocess.CompletedProcess
    start: float
    end: float
    output: list  # --publish-output


@dataclass(frozen=True)
class Published:
    repo: ScratchRepo
    ko_module: Path  # the same Go module as a ko user lays it out
    daemon_base: str  # the base's linux/amd64 image in the daemon, as ko.local/...
    without_daemon: subprocess.CompletedProcess
    names_before: frozenset[str]  # the daemon's names under NAME before and after run 1
    names_after: frozenset[str]
    first: Run
    again: Run


def _ko_build(engine: ContainerEngine, module: Path, *args: str, **env: str) -> str:
    """`ko build --local` (or, with KO_DOCKER_REPO in `env`, ko's choice for that value)."""
    clean = {k: v for k, v in engine.env().items() if not k.startswith(("KO_", "GOFLAGS"))}
    local = () if "KO_DOCKER_REPO" in env else ("--local",)
    result = subprocess.run(
        [str(ko_binary()), "build", *local, "--sbom=none", *args, "./cmd/server"],
        cwd=module, env={**clean, **env}, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def _publish(repo: ScratchRepo, dockerd: ContainerEngine, tmp: Path, *goals_and_targets: str) -> Run:
    output = tmp / f"publish-{uuid.uuid4().hex[:6]}.json"
    start = time.time()
    result = repo.pants(*goals_and_targets, f"--publish-output={output}", env=_env(dockerd))
    return Run(result, start, time.time() + 1, json.loads(output.read_text()))


def _names(dockerd: ContainerEngine, repository: str) -> frozenset[str]:
    listed = dockerd.docker("images", repository, "--format", "{{.Repository}}:{{.Tag}}").stdout
    return frozenset(listed.split())


def _env(engine: ContainerEngine, **extra: str) -> dict:
    return {"KO_DOCKER_REPO": "ko.local", "DOCKER_HOST": engine.docker_host, **extra}


def _loaded_references(repo: ScratchRepo) -> dict[tuple[str, str], str]:
    """(kind, name) of each object of the example YAML -> the ko.local reference it must run."""
    server, worker = repo.image_metadata(SERVER), repo.image_metadata(WORKER)
    return {
        ("deployment", "example-server"): f"{NAME}:{digest_hex(server['platforms']['linux/amd64'])}",
        ("job", "example-worker"): f"{worker['repository']}:{digest_hex(worker['digest'])}",
    }


def _applied(kube, namespace: str, kind: str, name: str) -> str:
    return kube.kubectl(
        "-n", namespace, "get", kind, name, "-o", "jsonpath={.spec.template.spec.containers[0].image}", check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def published(dockerd: ContainerEngine, registry_plain, tmp_path_factory) -> Published:
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
    # The base's linux/amd64 image in the daemon: what a ko.local/... base names.
    amd64 = bases[platforms[0]]
    amd64_layout = write_tree(root / "base-amd64", layout_files(amd64, [amd64], {}, "v1"))
    daemon_base_repo = f"ko.local/base-{uuid.uuid4().hex[:8]}"
    loaded = load_with_tool(dockerd, root, amd64_layout, daemon_base_repo, amd64.digest)
    assert loaded.returncode == 0, loaded.stderr
    daemon_base = f"{daemon_base_repo}:latest"

    repo = make_scratch_repo(root / "pants", files={
        "src/go/cmd/server/BUILD": (
            f'ko_image(name="server", platforms=["linux/amd64", "linux/arm64"], base_image="{base_ref}")\n'
            f'ko_image(name="on-daemon-base", platforms=["linux/amd64"], base_image="{daemon_base}",'
            ' tags=["on-daemon-base"])\n'
        ),
        "src/go/cmd/worker/BUILD": 'ko_image(name="worker", ports=["8080", "53/udp"], volumes=["/data"])\n',
        # Two targets build the server's import path: the YAML means the first.
        "src/config/BUILD": 'ko_manifests(name="apply", dependencies=["src/go/cmd/server:server"])\n',
    })
    # 1. No daemon: package needs none; publish says so in one line.
    nowhere = f"unix://{root}/no-daemon.sock"
    names_before = _names(dockerd, NAME)
    without_daemon = repo.pants(
        "package", "publish", "src/go/cmd/server:server", "src/go/cmd/worker:worker", "src/config:apply",
        env=_env(dockerd, DOCKER_HOST=nowhere), check=False,
    )
    names_after = _names(dockerd, NAME)
    # 2. and 3.
    targets = ("src/go/cmd/server:server", "src/go/cmd/server:on-daemon-base")
    first = _publish(repo, dockerd, root, "package", "publish", *targets)
    again = _publish(repo, dockerd, root, "publish", *targets)

    module = root / "ko"
    shutil.copytree(REPO_ROOT / "src/go", module, ignore=shutil.ignore_patterns("BUILD"))
    (module / ".ko.yaml").write_text(f"defaultBaseImage: {base_ref}\ndefaultPlatforms: [linux/amd64, linux/arm64]\n")
    return Published(repo, module, daemon_base, without_daemon, names_before, names_after, first, again)


def _actions(dockerd: ContainerEngine, run: Run) -> list[str]:
    return [e["Action"] for e in dockerd.events(run.start, run.end)]


def test_package_names_the_loaded_image_without_a_daemon_and_publish_says_there_is_none(
    dockerd: ContainerEngine, published: Published
) -> None:
    repo, result = published.repo, published.without_daemon
    metadata = repo.image_metadata(SERVER)
    reference = f"{NAME}:{digest_hex(metadata['platforms']['linux/amd64'])}"
    assert metadata["repository"] == NAME
    assert metadata["references"] == [reference, f"{NAME}:latest"]
    rendered = list(yaml.safe_load_all((repo.root / "dist/src.config/apply.yaml").read_text()))
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in rendered if d["kind"] != "Service"}
    assert images == {name: image for (_, name), image in _loaded_references(repo).items()}
    assert images["example-server"] == reference
    # Publish: one line saying there is no daemon, nothing reported as published.
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: no Docker daemon at DOCKER_HOST=unix://{repo.root.parent}/no-daemon.sock: the socket "
        f"{repo.root.parent}/no-daemon.sock does not exist; start Docker (or `podman system service`) or set "
        "DOCKER_HOST to the daemon's address"
    ], result.stderr[-3000:]
    assert PUBLISHED.findall(result.stderr) == []
    assert published.names_after == published.names_before  # nothing half-loaded


def test_publish_loads_the_amd64_image_which_runs(dockerd: ContainerEngine, published: Published) -> None:
    repo, run = published.repo, published.first
    server, on_base = repo.image_metadata(SERVER), repo.image_metadata(ON_DAEMON_BASE)
    reference = f"{NAME}:{digest_hex(server['platforms']['linux/amd64'])}"
    on_base_reference = f"{NAME}:{digest_hex(on_base['digest'])}"
    assert set(PUBLISHED.findall(run.result.stderr)) == {(reference, "published"), (on_base_reference, "published")}
    # One process loaded both (publish's batch), each as ko does: the daemon's own words.
    (entry,) = run.output
    assert entry["status"] == "published to the Docker daemon"  # two tag sets
    assert sorted((i["reference"], i["destination"], tuple(i["tags"])) for i in entry["images"]) == sorted(
        [(reference, "daemon", ("latest",)), (on_base_reference, "daemon", ("on-daemon-base",))]
    )
    assert _actions(dockerd, run).count("load") == 2
    inspect = dockerd.inspect(reference)
    assert set(inspect["RepoTags"]) >= {reference, f"{NAME}:latest"}
    assert (inspect["Os"], inspect["Architecture"]) == ("linux", "amd64")
    assert dockerd.inspect(f"{NAME}:on-daemon-base")["Id"] == dockerd.inspect(on_base_reference)["Id"]
    ran = dockerd.docker("run", "--rm", "--network", "none", f"{NAME}:latest", "-once")
    assert "hello from server on linux/amd64" in ran.stdout
    assert "kodata: message from kodata" in ran.stdout


def test_a_second_publish_loads_nothing(dockerd: ContainerEngine, published: Published) -> None:
    run = published.again
    assert sorted(entry["status"] for entry in run.output) == [
        "skipped (already in the Docker daemon with tags: latest)",
        "skipped (already in the Docker daemon with tags: on-daemon-base)",
    ]
    assert [m[1] for m in PUBLISHED.findall(run.result.stderr)] == ["skipped", "skipped"]
    # No load, no tag: the check only reads (the ko.local base is read again: a `save`).
    assert not {"load", "tag"} & set(_actions(dockerd, published.again))


def _compare(dockerd: ContainerEngine, ours: str, theirs: str) -> None:
    """Same name, tag form, diffIDs and config (so the same image ID)."""
    our_name, _ = REFERENCE.match(ours).groups()  # type: ignore[union-attr]
    ko_name, _ = REFERENCE.match(theirs).groups()  # type: ignore[union-attr]
    assert our_name == ko_name == NAME
    mine, ko = dockerd.inspect(ours), dockerd.inspect(theirs)
    assert mine["RootFS"]["Layers"] == ko["RootFS"]["Layers"]
    assert mine["Config"] == ko["Config"] and mine["Architecture"] == ko["Architecture"] == "amd64"
    assert mine["Id"] == ko["Id"]
    assert {ours, theirs, f"{NAME}:latest"} <= set(ko["RepoTags"])


def test_ko_build_local_loads_the_same_image(dockerd: ContainerEngine, published: Published) -> None:
    server = published.repo.image_metadata(SERVER)
    ours = f"{NAME}:{digest_hex(server['platforms']['linux/amd64'])}"
    start = time.time()
    theirs = _ko_build(dockerd, published.ko_module)
    end = time.time() + 1
    _compare(dockerd, ours, theirs)
    # Both name the linux/amd64 image of an index by its manifest digest, and the layers are ko's
    # bytes (the Go layer writer), so the manifest digest, and so the tag, is ko's too.
    assert ours == theirs
    assert "load" not in [e["Action"] for e in dockerd.events(start, end)]  # ko found ours: same image ID
    # KO_DOCKER_REPO=ko.local/other: ko's WithLocalDomain, the name our rules give (naming_test).
    other = _ko_build(dockerd, published.ko_module, KO_DOCKER_REPO="ko.local/other")
    assert other == f"{repository_for('ko.local/other', 'example.com/app/cmd/server')}:{ours.rpartition(':')[2]}"
    assert other.startswith("ko.local/other/server-") and dockerd.inspect(other)["Id"] == dockerd.inspect(ours)["Id"]


def test_a_ko_local_base_is_read_from_the_daemon_as_ko_does(dockerd: ContainerEngine, published: Published) -> None:
    on_base = published.repo.image_metadata(ON_DAEMON_BASE)
    ours = f"{NAME}:{digest_hex(on_base['digest'])}"
    theirs = _ko_build(dockerd, published.ko_module, "--platform=linux/amd64", KO_DEFAULTBASEIMAGE=published.daemon_base)
    _compare(dockerd, ours, theirs)
    base = dockerd.inspect(published.daemon_base)
    assert dockerd.inspect(ours)["RootFS"]["Layers"][: len(base["RootFS"]["Layers"])] == base["RootFS"]["Layers"]
    assert "BASE_VAR=from the base" in dockerd.inspect(ours)["Config"]["Env"]


def test_run_apply_loads_and_applies_yaml_naming_the_loaded_tags(dockerd: ContainerEngine, published: Published, kube) -> None:
    repo = published.repo
    namespace = kube.create_namespace("ko-local")
    start = time.time()
    repo.pants("run", "src/config:apply", "--", "-n", namespace, env=_env(dockerd, KUBECONFIG=str(kube.kubeconfig)))
    end = time.time() + 1
    expected = _loaded_references(repo)
    for (kind, name), image in expected.items():
        assert _applied(kube, namespace, kind, name) == image
        assert dockerd.inspect(image) is not None  # the name the cluster runs is in the daemon
    assert [e["Action"] for e in dockerd.events(start, end)].count("load") == 1  # the worker; the server was there
    # ports and volumes, as the engine reads them.
    config = dockerd.inspect(expected[("job", "example-worker")])["Config"]
    assert config["ExposedPorts"] == {"53/udp": {}, "8080/tcp": {}}
    assert config["Volumes"] == {"/data": {}}
    layout_config = json.loads(skopeo("inspect", "--config", f"oci:{repo.root / 'dist' / WORKER}").stdout)
    assert layout_config["config"]["ExposedPorts"] == config["ExposedPorts"]


def test_experimental_deploy_tags_what_the_daemon_has_then_applies(dockerd: ContainerEngine, published: Published, kube) -> None:
    # After the run above the daemon has both images: a new default tag makes Pants publish them
    # (the daemon only tags; nothing is loaded again), then kubectl applies the same references.
    repo = published.repo
    namespace = kube.create_namespace("ko-local-deploy")
    repo.write(
        "src/config/BUILD",
        'ko_manifests(name="apply", dependencies=["src/go/cmd/server:server"])\n'
        f'ko_manifests(name="deploy", dependencies=["src/go/cmd/server:server"], kubectl_args=["-n", "{namespace}"])\n',
    )
    start = time.time()
    result = repo.pants(
        "--ko-default-tags=deployed", "experimental-deploy", "src/config:deploy",
        env=_env(dockerd, KUBECONFIG=str(kube.kubeconfig)),
    )
    end = time.time() + 1
    for (kind, name), image in _loaded_references(repo).items():
        assert _applied(kube, namespace, kind, name) == image, result.stderr[-3000:]
        repository = image.rpartition(":")[0]
        assert dockerd.inspect(f"{repository}:deployed")["Id"] == dockerd.inspect(image)["Id"]
    actions = [e["Action"] for e in dockerd.events(start, end)]
    assert actions.count("tag") == 2 and "load" not in actions


def test_a_ko_local_registry_alias_loads_with_templated_tags_and_never_signs(
    dockerd: ContainerEngine, published: Published
) -> None:
    # Release's naming and ko.local together: a `[ko].registries` address under ko.local is the
    # daemon (named by `[ko].naming`), tags are templates, and a load is never signed, so a
    # signing key that does not exist is never read (a registry push would stop on it).
    repo = published.repo
    name = repository_for("ko.local", "example.com/app/cmd/worker", "md5")
    result = repo.pants(
        "--ko-registries={'lab': {'address': 'ko.local', 'default': True}}",
        "--ko-default-tags=['{name}-{parent_directory}']",
        "--ko-signing-key=/nonexistent/cosign.key",
        "publish",
        "src/go/cmd/worker:worker",
        env={"DOCKER_HOST": dockerd.docker_host},
    )
    ((reference, status),) = PUBLISHED.findall(result.stderr)
    assert (reference.rpartition(":")[0], status) == (name, "published"), result.stderr[-3000:]
    inspect = dockerd.inspect(f"{name}:worker-cmd")
    assert inspect["Id"] == dockerd.inspect(reference)["Id"]
    assert set(inspect["Config"]["ExposedPorts"]) == {"8080/tcp", "53/udp"}  # the worker's `ports`
    assert "signing_key" not in result.stderr


def test_publish_into_podmans_docker_api(podman_service: ContainerEngine, dockerd: ContainerEngine, published: Published) -> None:
    # The same publish with DOCKER_HOST at podman's Docker-compatible socket: the same image
    # (podman's image ID is the config digest too), tagged, and it runs there.
    repo = published.repo
    result = repo.pants("publish", "src/go/cmd/server:server", env=_env(podman_service))
    reference = _loaded_references(repo)[("deployment", "example-server")]
    assert PUBLISHED.findall(result.stderr) == [(reference, "published")], result.stderr[-3000:]
    inspect = podman_service.inspect(reference)
    assert inspect["Id"].removeprefix("sha256:") == dockerd.inspect(reference)["Id"].removeprefix("sha256:")
    assert f"{NAME}:latest" in inspect["RepoTags"]
    ran = podman_service.docker("run", "--rm", "--network", "none", f"{NAME}:latest", "-once")
    assert "kodata: message from kodata" in ran.stdout
