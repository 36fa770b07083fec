"""Issue 15's release wiring, end to end: `pants publish` with `[ko].registries` (two real
`docker-registry` processes, one behind token auth), repository and tag templates of both styles,
`skip_push`, `[ko].signing_key` (a key made by the real cosign v2.6.1, checked with `cosign
verify` / `verify-attestation --type slsaprovenance1`), and the bad input that must push nothing
(a wrong key password, an unknown template field, an unknown registry alias, two targets
claiming one repository:tag, a `--tag-only` tag that would move).

One scratch repository (a git checkout with a tag, so `{git.*}` expand) serves every test: each
`./pants` run costs ~half a minute here, so there are few of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.peers.pants_repo import ScratchRepo, make_scratch_repo
from tests.peers.registry import skopeo
from tests.test_security import scan

pytestmark = pytest.mark.peers

PREFIX = f"rel-{secrets.token_hex(4)}"
REFERENCE = re.compile(r"^(\S+)@(sha256:[0-9a-f]{64})$", re.MULTILINE)
WRITES = ("PUT", "POST", "PATCH", "DELETE")

SERVER_BUILD = """\
ko_image(
    name="server",
    platforms=["linux/amd64", "linux/arm64"],
    registries=["@plain", "@tok"],
    repository="{parent_directory}/{name}",
    tags=["{git.short_commit}", "{{.Git.Tag}}", "{env.RELEASE_STAGE}", "h-{pants.hash}"],
)
ko_image(name="clash-b", repository="clash", tags=["same"])
ko_kodata(name="kodata")
ko_go_package(name="pkg")
"""

WORKER_BUILD = """\
ko_image(name="worker", skip_push=True)
ko_image(name="typo", tags=["{git.shortcommit}"])
ko_image(name="alias", registries=["@nope"])
ko_image(name="clash-a", repository="clash", tags=["same"])
ko_image(name="tagonly", repository="tagonly", tags=["v1"])
ko_go_package(name="pkg")
"""


@pytest.fixture(scope="module")
def release_repo(tmp_path_factory, registry_plain, registry_token) -> ScratchRepo:
    root = tmp_path_factory.mktemp("release-repo")
    toml = f"""
[ko.registries.plain]
address = "{registry_plain.host}/{PREFIX}"
default = true
extra_tags = ["stable"]

[ko.registries.tok]
address = "{registry_token.host}/{PREFIX}"
"""
    repo = make_scratch_repo(
        root,
        files={"src/go/cmd/server/BUILD": SERVER_BUILD, "src/go/cmd/worker/BUILD": WORKER_BUILD},
        pants_toml_extra=toml,
    )
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", "v1.2.3"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return repo


def short_commit(repo: ScratchRepo) -> str:
    out = subprocess.run(["git", "-C", str(repo.root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip()


def env_for(registry_token, tmp_path: Path, **extra: str) -> dict:
    return {**registry_token.docker_config_env(str(tmp_path / "docker")), **extra}


def digest_at(peer, reference: str) -> str:
    raw = skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{reference}")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def writes_since(marks: dict) -> list[str]:
    return [str(r) for peer, mark in marks.items() for r in peer.requests_since(mark) if r.method in WRITES]


@pytest.fixture(scope="module")
def published(release_repo, registry_plain, registry_token, cosign_keys, tmp_path_factory):
    """The server to both registries (signed), the worker skipped: one publish."""
    tmp = tmp_path_factory.mktemp("release-publish")
    env = env_for(registry_token, tmp, RELEASE_STAGE="rc1", COSIGN_PASSWORD=cosign_keys.password)
    # `package` writes dist/ (the digests and the worker's layout the tests read); publish pushes those bytes.
    release_repo.pants("package", "src/go/cmd/server:server", "src/go/cmd/worker:worker", env=env)
    output = tmp / "publish.json"
    result = release_repo.pants(
        "publish",
        "src/go/cmd/server:server",
        "src/go/cmd/worker:worker",
        f"--ko-signing-key={cosign_keys.private}",
        f"--publish-output={output}",
        env=env,
    )
    return result, json.loads(output.read_text()), env


def test_two_registries_get_the_same_digest_under_every_expanded_tag(published, release_repo, registry_plain, registry_token):
    result, data, _ = published
    refs = {m.group(1): m.group(2) for m in REFERENCE.finditer(result.stdout)}
    plain = f"{registry_plain.host}/{PREFIX}/cmd/server"
    tok = f"{registry_token.host}/{PREFIX}/cmd/server"
    assert set(refs) == {plain, tok}, result.stdout
    assert refs[plain] == refs[tok] == release_repo.image_metadata("src.go.cmd.server/server")["digest"]
    commit = short_commit(release_repo)
    assert re.fullmatch(r"[0-9a-f]{7,}", commit)
    tags = {plain: [commit, "v1.2.3", "rc1", "stable"], tok: [commit, "v1.2.3", "rc1"]}
    for peer, repository in ((registry_plain, plain), (registry_token, tok)):
        for tag in tags[repository]:
            assert digest_at(peer, f"{repository}:{tag}") == refs[repository], tag
    # The token registry has no `stable` (that extra tag is the plain registry's).
    missing = subprocess.run(
        ["skopeo", "inspect", "--raw", *registry_token.skopeo_flags(), f"docker://{tok}:stable"], capture_output=True
    )
    assert missing.returncode != 0
    # {pants.hash}: 64 hex digits, the same tag in both registries (and stable: the republish
    # test finds every tag in place).
    [hashed] = [t for t in release_repo.image_metadata("src.go.cmd.server/server")["tags"] if t.startswith("h-")]
    assert re.fullmatch(r"h-[0-9a-f]{64}", hashed)
    for peer, repository in ((registry_plain, plain), (registry_token, tok)):
        assert digest_at(peer, f"{repository}:{hashed}") == refs[repository]
    images = [image for entry in data for image in entry["images"]]
    assert sorted(i["reference"] for i in images if i["target"].endswith(":server")) == sorted(
        f"{r}@{d}" for r, d in refs.items()
    )


def test_skip_push_publishes_nothing_and_says_so(published, registry_plain):
    result, data, _ = published
    [worker] = [entry for entry in data if any(i["target"].endswith(":worker") for i in entry["images"])]
    assert "skip_push" in worker["status"], worker
    worker_repo = worker["images"][0]["repository"]
    assert worker_repo.startswith(f"{registry_plain.host}/{PREFIX}/")
    status, _, _ = registry_plain.raw_request("GET", f"/v2/{worker_repo.split('/', 1)[1]}/tags/list")
    assert status == 404


def cosign_verify(cosign, cosign_keys, reference: str, *extra: str, env=None, command: str = "verify", check=True):
    return cosign.run(command, *cosign.verify_args(cosign_keys.public), *extra, reference, env=env, check=check)


def test_cosign_verifies_signatures_and_slsa_provenance_in_both_registries(
    published, cosign, cosign_keys, registry_plain, registry_token, release_repo
):
    _, _, env = published
    digest = release_repo.image_metadata("src.go.cmd.server/server")["digest"]
    for peer in (registry_plain, registry_token):
        reference = f"{peer.host}/{PREFIX}/cmd/server:rc1"
        out = cosign_verify(cosign, cosign_keys, reference, env={"DOCKER_CONFIG": env["DOCKER_CONFIG"]}).stdout
        assert json.loads(out)[0]["critical"]["image"]["docker-manifest-digest"] == digest
    plain = f"{registry_plain.host}/{PREFIX}/cmd/server"
    index = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{plain}@{digest}"))
    for child in [digest, *(m["digest"] for m in index["manifests"])]:
        cosign_verify(cosign, cosign_keys, f"{plain}@{child}")
        cosign_verify(cosign, cosign_keys, f"{plain}@{child}", "--attachment", "sbom")
        out = cosign_verify(
            cosign, cosign_keys, f"{plain}@{child}", "--type", "slsaprovenance1", command="verify-attestation"
        ).stdout
        [envelope] = [json.loads(line) for line in out.splitlines() if line.strip()]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        predicate = statement["predicate"]
        assert predicate["runDetails"]["builder"]["id"].startswith("pants-backend-ko ")
        assert predicate["buildDefinition"]["externalParameters"]["target"] == "src/go/cmd/server:server"
        assert digest[7:] in {s["digest"]["sha256"] for s in statement["subject"]}


def test_publishing_again_signs_nothing_again_and_leaks_no_secret(
    published, release_repo, registry_plain, registry_token, cosign_keys, tmp_path
):
    _, _, env = published
    marks = {registry_plain: registry_plain.mark(), registry_token: registry_token.mark()}
    again = release_repo.pants(
        "publish", "src/go/cmd/server:server", f"--ko-signing-key={cosign_keys.private}", env=env
    )
    assert "already in the registry" in again.stderr + again.stdout
    assert writes_since(marks) == []
    key_secrets = {
        "password": cosign_keys.password.encode(),
        "encrypted key": "".join(cosign_keys.private.read_text().splitlines()[1:-1]).encode()[:64],
    }
    assert [name for name, s in key_secrets.items() if s in (again.stdout + again.stderr).encode()] == []
    count, hits = scan([release_repo.root / "dist", Path(registry_plain.storage_dir)], key_secrets)
    assert count > 10 and hits == []


@pytest.mark.parametrize(
    "args, env_extra, expected",
    [
        (
            ["src/go/cmd/server:server", "--ko-signing-key={key}"],
            {"RELEASE_STAGE": "rc2", "COSIGN_PASSWORD": "not-the-password"},
            "wrong password: the key does not decrypt with $COSIGN_PASSWORD",
        ),
        (["src/go/cmd/worker:typo"], {}, "src/go/cmd/worker:typo: `tags`: unknown placeholder {git.shortcommit}"),
        (["src/go/cmd/worker:alias"], {}, "src/go/cmd/worker:alias: `registries`: no registry has the alias '@nope'"),
        (
            ["src/go/cmd/worker:clash-a", "src/go/cmd/server:clash-b"],
            {},
            "src/go/cmd/server:clash-b and src/go/cmd/worker:clash-a both publish",
        ),
    ],
    ids=["wrong-key-password", "unknown-template-field", "unknown-registry-alias", "two-targets-one-tag"],
)
def test_bad_input_is_one_line_and_pushes_nothing(
    args, env_extra, expected, published, release_repo, registry_plain, registry_token, cosign_keys, tmp_path
):
    marks = {registry_plain: registry_plain.mark(), registry_token: registry_token.mark()}
    argv = [a.format(key=cosign_keys.private) for a in args]
    result = release_repo.pants("publish", *argv, env=env_for(registry_token, tmp_path, **env_extra), check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if expected in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr
    assert writes_since(marks) == []


def test_tag_only_refuses_to_move_a_tag(published, release_repo, registry_plain, registry_token, tmp_path):
    # `v1` of the tagonly repository already names another image (a copy of the server index).
    plain = f"{registry_plain.host}/{PREFIX}"
    skopeo(
        "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
        f"docker://{plain}/cmd/server:rc1", f"docker://{plain}/tagonly:v1",
    )
    before = digest_at(registry_plain, f"{plain}/tagonly:v1")
    marks = {registry_plain: registry_plain.mark()}
    result = release_repo.pants(
        "publish", "--ko-tag-only", "src/go/cmd/worker:tagonly", env=env_for(registry_token, tmp_path), check=False
    )
    assert result.returncode != 0
    assert f"--tag-only: the tag v1 already names {before}, not sha256:" in result.stderr, result.stderr[-3000:]
    assert writes_since(marks) == []
    assert digest_at(registry_plain, f"{plain}/tagonly:v1") == before


def test_a_tampered_tag_fails_verification(published, cosign, cosign_keys, registry_plain, release_repo):
    # Last: it moves a tag the other tests read. Someone moves `stable` to an image this key never
    # signed: verification must fail.
    plain = f"{registry_plain.host}/{PREFIX}/cmd/server"
    skopeo(
        "copy", "--dest-tls-verify=false",
        f"oci:{release_repo.root / 'dist/src.go.cmd.worker/worker'}:latest", f"docker://{plain}:stable",
    )
    failed = cosign_verify(cosign, cosign_keys, f"{plain}:stable", check=False)
    assert failed.returncode != 0 and "no signatures found" in failed.stderr.lower(), failed.stderr
