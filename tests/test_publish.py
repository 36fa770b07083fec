"""`pants publish` and registry base images, against real registries (plain HTTP, TLS with
htpasswd Basic auth, token auth), checked with skopeo and by running what was pulled."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.peers import image_tools
from tests.peers.pants_repo import ScratchRepo, make_scratch_repo
from tests.peers.registry import skopeo

from pants_backend_ko.oci.image import base_index_digest
from pants_backend_ko.oci.mediatypes import OCI_INDEX

SERVER = "src.go.cmd.server/server"
WORKER = "src.go.cmd.worker/worker"
REFERENCE = re.compile(r"^(\S+)@(sha256:[0-9a-f]{64})$", re.MULTILINE)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> ScratchRepo:
    return make_scratch_repo(tmp_path_factory.mktemp("publish-repo"))


def registry_env(peer, tmp_path: Path, repo_prefix: str) -> dict:
    env = {"KO_DOCKER_REPO": f"{peer.host}/{repo_prefix}", **peer.docker_config_env(str(tmp_path / "docker"))}
    if peer.ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = peer.ca_bundle
    return env


def published_references(stdout: str) -> dict:
    return {m.group(1): m.group(2) for m in REFERENCE.finditer(stdout)}


@pytest.mark.parametrize("kind", ["plain", "tls-basic", "token"])
def test_publish_example_to_each_registry_setup(kind, repo, tmp_path, request, unique_repo):
    peer = request.getfixturevalue({"plain": "registry_plain", "tls-basic": "registry_tls", "token": "registry_token"}[kind])
    env = registry_env(peer, tmp_path, unique_repo)
    output = tmp_path / "publish.json"
    result = repo.pants("publish", "src/go::", f"--publish-output={output}", env=env)
    refs = published_references(result.stdout)
    assert len(refs) == 2, result.stdout
    # The digests printed by publish are those package computed, and what the registry serves.
    repo.pants("package", "src/go::", env=env)
    for output_path in (SERVER, WORKER):
        meta = repo.image_metadata(output_path)
        assert refs[meta["repository"]] == meta["digest"]
        raw = skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{meta['repository']}@{meta['digest']}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == meta["digest"]
        tagged = skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{meta['repository']}:latest")
        assert tagged == raw
        assert raw == (repo.root / "dist" / output_path / "blobs/sha256" / meta["digest"][7:]).read_bytes()
    data = json.loads(output.read_text())
    # Both images pushed by one process (in parallel): one entry listing both.
    assert [entry["status"] for entry in data] == ["published to tags: latest"]
    assert sorted(image["reference"] for entry in data for image in entry["images"]) == sorted(f"{r}@{d}" for r, d in refs.items())
    # Secrets never reach the output.
    assert peer.password is None or peer.password not in result.stdout + result.stderr


def test_published_image_pulls_and_runs_and_republish_uploads_nothing(repo, registry_plain, tmp_path, unique_repo):
    env = registry_env(registry_plain, tmp_path, unique_repo)
    first = published_references(repo.pants("publish", "src/go::", env=env).stdout)
    worker_repo = next(r for r in first if "/worker-" in r)
    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{worker_repo}@{first[worker_repo]}", f"oci:{pulled}:x")
    bundle = image_tools.umoci_unpack(pulled, "x", tmp_path / "bundle")
    run = image_tools.run_chroot(bundle)
    assert run.returncode == 0 and "hello from worker on linux/amd64" in run.stdout

    # Publishing again: one read-only check finds both images with their tags and SBOMs, so
    # no push process runs and the registry sees no write.
    mark = registry_plain.mark()
    output = tmp_path / "again.json"
    again = repo.pants("publish", "src/go::", f"--publish-output={output}", env=env)
    data = json.loads(output.read_text())
    assert sorted(image["reference"] for entry in data for image in entry["images"]) == sorted(f"{r}@{d}" for r, d in first.items())
    assert [entry["status"] for entry in data] == ["skipped (already in the registry with tags: latest)"] * 2
    assert published_references(again.stdout) == {}
    requests = registry_plain.requests_since(mark)
    assert {r.method for r in requests} <= {"GET", "HEAD"}, [str(r) for r in requests]

    # A tag moved away by someone else is put back: that image alone is pushed again.
    server_repo = next(r for r in first if "/server-" in r)
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{worker_repo}@{first[worker_repo]}", f"docker://{server_repo}:latest")
    third = published_references(repo.pants("publish", "src/go::", env=env).stdout)
    assert third == {server_repo: first[server_repo]}
    tagged = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{server_repo}:latest")
    assert "sha256:" + hashlib.sha256(tagged).hexdigest() == first[server_repo]


def seed_base_images(peer, source_repo: ScratchRepo, prefix: str) -> tuple[str, str]:
    """A multi-platform OCI index and a Docker-typed single image in the registry, made from
    images this backend built (there is no other registry to copy a base from)."""
    source_repo.pants("package", "src/go::")
    index_ref = f"{peer.host}/{prefix}/base-index:v1"
    docker_ref = f"{peer.host}/{prefix}/base-docker:v1"
    skopeo("copy", "--all", *peer.skopeo_flags("dest"), f"oci:{source_repo.root / 'dist' / SERVER}:latest", f"docker://{index_ref}")
    skopeo("copy", "--format", "v2s2", *peer.skopeo_flags("dest"), f"oci:{source_repo.root / 'dist' / WORKER}:latest", f"docker://{docker_ref}")
    return index_ref, docker_ref


def test_registry_base_images_index_and_docker_typed(repo, registry_plain, tmp_path, unique_repo):
    index_ref, docker_ref = seed_base_images(registry_plain, repo, unique_repo)
    app = make_scratch_repo(
        tmp_path / "app",
        files={
            "src/go/cmd/worker/BUILD": (
                f'ko_image(name="worker", base_image="{index_ref}", platforms=["linux/amd64", "linux/arm64"])\n'
                f'ko_image(name="on-docker", base_image="{docker_ref}")\n'
            )
        },
    )
    env = {"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}/out"}
    app.pants("package", "src/go/cmd/worker::", env=env)
    meta = app.image_metadata(WORKER)
    index = json.loads(image_tools.skopeo_inspect(f"oci:{app.root / 'dist' / WORKER}:latest", raw=True))
    base_index = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{index_ref}")
    base_digest = "sha256:" + hashlib.sha256(base_index).hexdigest()
    assert index["annotations"]["org.opencontainers.image.base.name"] == index_ref
    # As ko writes it: the digest of the base index once ko has annotated it with its own name
    # and digest (tests/test_ko_migration.py checks this against the real ko).
    base_annotations = {
        "org.opencontainers.image.base.name": index_ref,
        "org.opencontainers.image.base.digest": base_digest,
    }
    assert index["annotations"]["org.opencontainers.image.base.digest"] == base_index_digest(
        base_index, OCI_INDEX, base_annotations
    )
    for child in index["manifests"]:  # each image names the base image it was built on
        manifest = json.loads((app.root / "dist" / WORKER / "blobs/sha256" / child["digest"][7:]).read_bytes())
        base_child = next(
            m for m in json.loads(base_index)["manifests"] if m["platform"] == child["platform"]
        )
        assert manifest["annotations"]["org.opencontainers.image.base.digest"] == base_child["digest"]
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    config = image_tools.skopeo_inspect(f"oci:{app.root / 'dist' / WORKER}:latest", extra=["--config", "--override-arch", "arm64"])
    # base layers (kodata + app of the server image), then ours: 4 diff ids.
    assert len(config["rootfs"]["diff_ids"]) == 4
    assert config["config"]["Entrypoint"] == ["/ko-app/worker"]

    docker_meta = app.image_metadata("src.go.cmd.worker/on-docker")
    # skopeo 1.9 reads only OCI-typed manifests from a layout: read the blob itself.
    layout = app.root / "dist/src.go.cmd.worker/on-docker"
    manifest = json.loads((layout / "blobs/sha256" / docker_meta["digest"][7:]).read_bytes())
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert docker_meta["media_type"] == manifest["mediaType"]

    # Publishing to the base's registry mounts the base layers instead of uploading them.
    mark = registry_plain.mark()
    published = published_references(app.pants("publish", "src/go/cmd/worker:worker", env=env).stdout)
    assert published == {meta["repository"]: meta["digest"]}
    requests = registry_plain.requests_since(mark)
    mounts = [r for r in requests if r.method == "POST" and "mount=" in r.query and r.status == 201]
    # The base's distinct layers: its kodata layer (the same on both platforms) and one app
    # layer per platform. Each is mounted, none uploaded.
    assert len(mounts) == 3, [str(r) for r in requests]
    mounted = {re.search(r"mount=([^&]+)", r.query).group(1).replace("%3A", ":") for r in mounts}
    uploads = [r for r in requests if r.method == "PUT" and "/blobs/uploads/" in r.path]
    assert not any(d in r.query.replace("%3A", ":") for r in uploads for d in mounted)
    pulled = tmp_path / "pulled"
    skopeo("copy", "--override-arch", "arm64", "--src-tls-verify=false", f"docker://{meta['repository']}@{meta['digest']}", f"oci:{pulled}:x")
    bundle = image_tools.umoci_unpack(pulled, "x", tmp_path / "bundle")
    assert "hello from worker on linux/arm64" in image_tools.run_qemu_aarch64(bundle).stdout


def test_base_image_platform_mismatch_is_one_clear_error(repo, registry_plain, tmp_path, unique_repo):
    _, docker_ref = seed_base_images(registry_plain, repo, unique_repo)
    app = make_scratch_repo(
        tmp_path / "app",
        files={"src/go/cmd/worker/BUILD": f'ko_image(name="worker", base_image="{docker_ref}", platforms=["linux/arm64"])\n'},
    )
    result = app.pants("package", "src/go/cmd/worker:worker", check=False)
    assert result.returncode != 0
    assert f"src/go/cmd/worker:worker: base image '{docker_ref}'" in result.stderr
    assert "does not match" in result.stderr and "linux/arm64" in result.stderr


def test_publish_without_repository_says_what_to_do(repo):
    result = repo.pants("publish", "src/go/cmd/worker", "--ko-docker-repo=", check=False)
    assert result.returncode != 0
    assert "src/go/cmd/worker:worker: nowhere to publish: set KO_DOCKER_REPO" in result.stderr


def test_package_writes_and_publish_attaches_sboms(repo, registry_plain, tmp_path, unique_repo):
    """SPDX SBOMs beside the package; publish attaches them as ko does (sha256-<hex>.sbom) and
    as OCI 1.1 referrers (the sha256-<hex> fallback index on a registry without the API)."""
    env = registry_env(registry_plain, tmp_path, unique_repo)
    repo.pants("package", "src/go/cmd/server", env=env)
    meta = repo.image_metadata(SERVER)
    sbom = json.loads((repo.root / "dist" / f"{SERVER}.spdx.json").read_text())
    assert sbom["spdxVersion"] == "SPDX-2.3"
    child = json.loads((repo.root / "dist" / f"{SERVER}.linux-arm64.spdx.json").read_text())
    names = {p["name"] for p in child["packages"]}
    assert "github.com/google/uuid" in names and "example.com/app" in names
    repo.pants("publish", "src/go/cmd/server", env=env)
    for digest in [meta["digest"], *meta["platforms"].values()]:
        tag = digest.replace(":", "-")
        attachment = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{meta['repository']}:{tag}.sbom"))
        assert attachment["layers"][0]["mediaType"] == "text/spdx+json"
        referrers = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{meta['repository']}:{tag}"))
        assert [m.get("artifactType") for m in referrers["manifests"]] == ["application/spdx+json"]


def test_shallow_base_images_are_never_downloaded(repo, registry_plain, tmp_path, unique_repo):
    """With [ko].shallow_base_images, as ko: no base layer is ever downloaded; publish mounts them."""
    index_ref, _ = seed_base_images(registry_plain, repo, unique_repo)
    app = make_scratch_repo(
        tmp_path / "app",
        files={"src/go/cmd/worker/BUILD": f'ko_image(name="worker", base_image="{index_ref}", platforms=["linux/amd64", "linux/arm64"])\n'},
    )
    env = {"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}/shallow"}
    mark = registry_plain.mark()
    app.pants("--ko-shallow-base-images", "package", "src/go/cmd/worker", env=env)
    assert not (app.root / "dist" / f"{WORKER}.tar").exists()
    published = published_references(app.pants("--ko-shallow-base-images", "publish", "src/go/cmd/worker", env=env).stdout)
    requests = registry_plain.requests_since(mark)
    base_repo = index_ref.split("/", 1)[1].rsplit(":", 1)[0]
    downloads = [r for r in requests if r.method == "GET" and r.path.startswith(f"/v2/{base_repo}/blobs/")]
    # Configs are read (they are small and needed to build); no layer of the base is.
    base_layers = set()
    for arch in ("amd64", "arm64"):
        manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", "--override-arch", arch, f"docker://{index_ref}"))
        base_layers.update(layer["digest"] for layer in manifest.get("layers", []))
    assert not [r for r in downloads if r.path.rsplit("/", 1)[-1] in base_layers], [str(r) for r in downloads]
    (repository, digest), = published.items()
    pulled = tmp_path / "pulled"
    skopeo("copy", "--src-tls-verify=false", f"docker://{repository}@{digest}", f"oci:{pulled}:x")
    bundle = image_tools.umoci_unpack(pulled, "x", tmp_path / "bundle")
    assert "hello from worker on linux/amd64" in image_tools.run_chroot(bundle).stdout


def push_helm_like_artifact(peer, repository: str) -> str:
    """An OCI artifact that is not a container image (a Helm-chart-like config), by hand."""
    import requests

    base_url = f"http://{peer.host}"

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = requests.post(f"{base_url}/v2/{repository}/blobs/uploads/", timeout=30).headers["Location"]
        sep = "&" if "?" in location else "?"
        answer = requests.put(f"{location}{sep}digest={digest}", data=data, timeout=30,
                              headers={"Content-Type": "application/octet-stream"})
        assert answer.status_code == 201, answer.text
        return digest

    config, layer = b'{"name":"chart","version":"1.0.0"}', b"chart bytes"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "size": len(config), "digest": blob(config)},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "size": len(layer), "digest": blob(layer)}],
    })
    answer = requests.put(f"{base_url}/v2/{repository}/manifests/v1", data=manifest, timeout=30,
                          headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert answer.status_code == 201, answer.text
    return f"{peer.host}/{repository}:v1"


def test_missing_and_non_image_bases_fail_in_one_line_and_build_nothing(registry_plain, tmp_path, unique_repo):
    chart = push_helm_like_artifact(registry_plain, f"{unique_repo}/chart")
    missing = f"{registry_plain.host}/{unique_repo}/nothere:v1"
    app = make_scratch_repo(
        tmp_path / "app",
        files={"src/go/cmd/worker/BUILD": f'ko_image(name="missing", base_image="{missing}")\nko_image(name="chart", base_image="{chart}")\n'},
    )
    result = app.pants("package", "src/go/cmd/worker:missing", check=False)
    assert result.returncode != 0
    assert f"src/go/cmd/worker:missing: base image '{missing}': registry {registry_plain.host}: GET /v2/{unique_repo}/nothere/manifests/v1: 404 MANIFEST_UNKNOWN" in result.stderr
    result = app.pants("package", "src/go/cmd/worker:chart", check=False)
    assert result.returncode != 0
    assert "is not a container image (its config is application/vnd.cncf.helm.config.v1+json)" in result.stderr
    assert "src/go/cmd/worker:chart: base image" in result.stderr
    assert not (app.root / "dist").exists() or not list((app.root / "dist").rglob("*.ko-image.json"))
