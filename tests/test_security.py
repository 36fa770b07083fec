"""Security against real peers (issue 7, part 3): TLS verification, credentials never sent to
another host (redirects, upload locations), and a scan of everything a publish run wrote for
the test secrets.

What cannot be set up without DNS (a non-loopback registry name that resolves to 127.0.0.1) is
checked at the decision functions instead: which hosts get plain HTTP or unverified TLS, and
when credentials may go to a plain-HTTP token realm.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from pants_backend_ko.oci.remote.auth import Challenge, fetch_token, is_loopback_host
from pants_backend_ko.oci.remote.credentials import BASIC, Credential, Keychain, Secret
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.pull import fetch_blob, get_small_blob
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from tests.peers.pants_repo import make_scratch_repo
from tests.peers.registry import (
    BASIC_PASSWORD,
    BASIC_USER,
    TOKEN_PASSWORD,
    TOKEN_USER,
    FaultProxy,
    RegistryPeer,
    Rule,
    skopeo,
    write_docker_config,
    write_test_layout,
)
from tests.peers.token_server import TokenServer
from tests.test_faults import WORKER, assert_tag_complete_or_absent, one_error_line, run_cli

pytestmark = pytest.mark.peers

SHARED_NAMED_CACHES = Path(
    os.environ.get("PANTS_NAMED_CACHES_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pants/named_caches"
)


# ---------------------------------------------------------------- TLS decisions


def test_tls_verification_is_on_except_for_loopback_plain_http_and_listed_hosts():
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000", "127.1.2.3", "registry.localhost:443"):
        assert is_loopback_host(host), host
    for host in ("registry.example.com", "10.0.0.1:5000", "127.example.com", "localhost.example.com:5000", "[::2]:5000"):
        assert not is_loopback_host(host), host

    public = RegistryClient("registry.example.com")
    assert (public.insecure, public.loopback, public._verify) == (False, False, True)
    pinned = RegistryClient("registry.example.com", ca_bundle="/etc/ssl/private-ca.pem")
    assert pinned._verify == "/etc/ssl/private-ca.pem"
    listed = RegistryClient("registry.example.com:5000", insecure_registries=["registry.example.com:5000"])
    assert (listed.insecure, listed._verify) == (True, False)
    # Listing another port of the same host does not make this one insecure.
    assert RegistryClient("registry.example.com", insecure_registries=["registry.example.com:5000"])._verify is True
    # Loopback may fall back to plain HTTP, but a TLS loopback registry is still verified.
    loopback = RegistryClient("127.0.0.1:5000")
    assert (loopback.insecure, loopback.loopback, loopback._verify) == (False, True, True)
    for client in (public, pinned, listed, loopback):
        client.close()


def test_credentials_never_go_to_a_plain_http_token_realm_of_a_public_registry():
    challenge = Challenge("bearer", "http://auth.example.com/token", "registry.example.com", ())
    credential = Credential(BASIC, "alice", Secret(BASIC_PASSWORD), "test")
    sent = []
    with pytest.raises(RegistryError) as info:
        fetch_token(send=lambda *args, **kwargs: sent.append(args), registry="registry.example.com", challenge=challenge,
                    scopes=("repository:a:pull",), credential=credential, plain_http_ok=False)
    assert sent == []  # refused before any request
    message = str(info.value)
    assert message.startswith("registry registry.example.com: refusing to send ") and "plain-HTTP token realm http://auth.example.com/token" in message
    assert BASIC_PASSWORD not in message and "\n" not in message


def test_self_signed_tls_registry_without_its_ca_fails_in_one_line(registry_tls, tmp_path, unique_repo):
    peer = registry_tls
    env = peer.docker_config_env(str(tmp_path / "docker"))  # credentials present: they must not be sent
    mark = peer.mark()
    proc = run_cli("inspect", peer.ref(unique_repo, "v1"), env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert one_error_line(proc.stderr) == (
        f"error: registry {peer.host}: GET /v2/: the TLS certificate is not trusted; "
        "pass the CA bundle that signed it, or list the host as an insecure registry"
    )
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    push = run_cli("push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}", env=env)
    assert push.returncode == 1 and "the TLS certificate is not trusted" in one_error_line(push.stderr)
    # The handshake failed, so no HTTP request (and no credential) reached the registry.
    assert peer.requests_since(mark) == []
    # Listing the host explicitly is the one way to skip verification.
    listed = run_cli("push", "--layout", layout.path, "--repository", f"{peer.host}/{unique_repo}",
                     "--insecure-registry", peer.host, env=env)
    assert listed.returncode == 0, listed.stderr
    assert BASIC_PASSWORD not in proc.stderr + push.stderr + listed.stderr


# ------------------------------------------------- credentials and other hosts


@pytest.fixture
def basic_auth_proxy(registry_plain):
    """A proxy in front of the plain registry that demands Basic auth (so the client sends
    credentials) and can redirect or re-point requests to its second, recording host."""
    proxy = FaultProxy(registry_plain)
    proxy.add_rule(Rule("GET", r"^/v2/$", "respond", status=401, headers={"WWW-Authenticate": 'Basic realm="proxy"'}))
    yield proxy
    proxy.stop()


def test_credentials_are_not_forwarded_when_a_blob_download_is_redirected(basic_auth_proxy, registry_plain, tmp_path, unique_repo):
    proxy = basic_auth_proxy
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    with RegistryClient(registry_plain.host) as direct:
        push_layout(layout.path, unique_repo, ["v1"], client=direct)
    proxy.add_rule(Rule("GET", r"/blobs/sha256:", "redirect_blob"))
    write_docker_config(str(tmp_path / "docker"), proxy.host, BASIC_USER, BASIC_PASSWORD)
    keychain = Keychain({"DOCKER_CONFIG": str(tmp_path / "docker")})
    image = layout.images[0]
    with RegistryClient(proxy.host, keychain=keychain) as client:
        config = get_small_blob(client, unique_repo, image.config_digest)
        path = fetch_blob(client, unique_repo, image.layer_digests[1], tmp_path / "layer")
    assert b'"architecture"' in config and path.stat().st_size > 0

    expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    blob_gets = [r for r in proxy.log if r.method == "GET" and "/blobs/" in r.path]
    assert len(blob_gets) == 2 and all(r.header("Authorization") == expected for r in blob_gets)
    # The other origin (another port) received both downloads, without any credential.
    assert sorted(r.path for r in proxy.storage_log) == sorted(r.path for r in blob_gets)
    for request in proxy.storage_log:
        assert request.header("Authorization") is None
        assert BASIC_PASSWORD not in json.dumps(request.headers)


def test_upload_location_on_another_host_is_refused(basic_auth_proxy, tmp_path, unique_repo):
    proxy = basic_auth_proxy
    proxy.add_rule(Rule("POST", r"/blobs/uploads/$", "rewrite_location", headers={"netloc": proxy.storage_host}))
    write_docker_config(str(tmp_path / "docker"), proxy.host, BASIC_USER, BASIC_PASSWORD)
    layout = write_test_layout(str(tmp_path / "layout"), single=True)
    proc = run_cli("push", "--layout", layout.path, "--repository", f"{proxy.host}/{unique_repo}", "--tag", "v1",
                   env={"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith(f"error: registry {proxy.host}: refusing to send a request to http://{proxy.storage_host}/v2/{unique_repo}/blobs/uploads/"), line
    assert f"which is not http://{proxy.host}" in line and BASIC_PASSWORD not in line
    assert proxy.storage_log == []  # nothing, and no credential, went to the other host
    assert assert_tag_complete_or_absent(proxy.upstream, unique_repo, "v1") is None


# ------------------------------------------------------------- the secret scan


class RecordingTokenServer(TokenServer):
    """A token server that remembers every token it issued (secrets to look for)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.issued: list[str] = []
        self._issued_lock = threading.Lock()

    def _issue(self, method, grant, user, ok, scopes):
        status, body, record = super()._issue(method, grant, user, ok, scopes)
        if status == 200:
            with self._issued_lock:
                self.issued.append(body["token"])
        return status, body, record


def docker_config(directory: Path, entries: dict[str, tuple[str, str]]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    auths = {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()} for host, (user, password) in entries.items()}
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    return {"DOCKER_CONFIG": str(directory)}


def read_all(path: Path) -> bytes:
    """A file's bytes, skipping the holes of sparse files (LMDB maps)."""
    out = bytearray()
    with open(path, "rb") as f:
        fd = f.fileno()
        end = os.fstat(fd).st_size
        offset = 0
        while offset < end:
            try:
                data_start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break  # only a hole remains
            hole = os.lseek(fd, data_start, os.SEEK_HOLE)
            os.lseek(fd, data_start, os.SEEK_SET)
            out += f.read(hole - data_start)
            offset = hole
    return bytes(out)


def scan(roots: Iterable[Path], secrets: dict[str, bytes]) -> tuple[int, list[str]]:
    """(files scanned, "<secret name> in <file>" for every hit)."""
    hits, count = [], 0
    for root in roots:
        for path in [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            count += 1
            data = read_all(path)
            hits.extend(f"{name} in {path}" for name, secret in secrets.items() if secret in data)
    return count, hits


def link_tree(source: Path, dest: Path) -> None:
    """Seed an isolated named cache with hard links to the shared one (keeps Go's stdlib warm)."""
    if source.is_dir():
        shutil.copytree(source, dest, copy_function=os.link, symlinks=True)


def test_no_secret_reaches_dist_logs_output_or_caches(registry_tls, tmp_path, unique_repo):
    tokens = RecordingTokenServer(str(tmp_path / "tokens"), users={TOKEN_USER: TOKEN_PASSWORD}).start()
    token_registry = RegistryPeer(str(tmp_path / "token-registry"), "token", token_server=tokens).start()
    try:
        # A base image behind token auth (pulled with bob's credentials), publishing to the
        # TLS + Basic registry (alice's credentials): every kind of secret is in play.
        good = docker_config(tmp_path / "docker-good", {
            token_registry.host: (TOKEN_USER, TOKEN_PASSWORD), registry_tls.host: (BASIC_USER, BASIC_PASSWORD),
        })
        base = write_test_layout(str(tmp_path / "base"), platforms=("linux/amd64",), single=True)
        with RegistryClient(token_registry.host, keychain=Keychain(good)) as client:
            push_layout(base.path, f"{unique_repo}/base", ["v1"], client=client)
        base_ref = f"{token_registry.host}/{unique_repo}/base:v1"
        app = make_scratch_repo(tmp_path / "app", files={"src/go/cmd/worker/BUILD": f'ko_image(name="worker", base_image="{base_ref}")\n'})
        named, store = tmp_path / "named-caches", tmp_path / "store"
        for name in ("ko_go_build", "ko_go_mod", "pex_root"):
            link_tree(SHARED_NAMED_CACHES / name, named / name)
        isolated = (f"--named-caches-dir={named}", f"--local-store-dir={store}")
        env = {**good, "KO_DOCKER_REPO": f"{registry_tls.host}/{unique_repo}", "REQUESTS_CA_BUNDLE": registry_tls.ca_bundle}

        published = app.pants("-ldebug", *isolated, "package", "publish", "src/go/cmd/worker:worker", env=env, timeout=400)
        meta = app.image_metadata(WORKER)
        assert f"{meta['repository']}@{meta['digest']}" in published.stdout
        raw = skopeo("inspect", "--raw", *registry_tls.skopeo_flags(), f"docker://{meta['repository']}@{meta['digest']}")
        assert raw == (app.root / "dist" / WORKER / "blobs/sha256" / meta["digest"][7:]).read_bytes()

        # A wrong password: the run fails, and the wrong password is not echoed either.
        wrong_password = "wr0ng-s3cret-for-alice"
        bad = docker_config(tmp_path / "docker-bad", {
            token_registry.host: (TOKEN_USER, TOKEN_PASSWORD), registry_tls.host: (BASIC_USER, wrong_password),
        })
        failed = app.pants("-ldebug", *isolated, "publish", "src/go/cmd/worker:worker",
                           env={**env, **bad, "KO_DOCKER_REPO": f"{registry_tls.host}/{unique_repo}-other"}, check=False, timeout=400)
        assert failed.returncode != 0
        assert f"registry {registry_tls.host}: HEAD /v2/{unique_repo}-other/" in failed.stderr
        assert f"401 UNAUTHORIZED (credentials tried: basic auth for user '{BASIC_USER}'" in failed.stderr
        assert tokens.issued, "the base image was pulled with a token"
    finally:
        token_registry.stop()
        tokens.stop()

    secrets: dict[str, bytes] = {
        "basic password": BASIC_PASSWORD.encode(),
        "token password": TOKEN_PASSWORD.encode(),
        "wrong password": wrong_password.encode(),
        "basic auth header": base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()),
        "token user auth header": base64.b64encode(f"{TOKEN_USER}:{TOKEN_PASSWORD}".encode()),
        "wrong auth header": base64.b64encode(f"{BASIC_USER}:{wrong_password}".encode()),
    }
    for i, token in enumerate(tokens.issued):
        secrets[f"token {i}"] = token.encode()
        secrets[f"token {i} signature"] = token.rsplit(".", 1)[1].encode()
    outputs = {"stdout+stderr": "\n".join(r.stdout + r.stderr for r in (published, failed)).encode()}
    assert [name for name, secret in secrets.items() if secret in outputs["stdout+stderr"]] == []
    roots = [app.root / "dist", app.root / ".pants.d", named, store]
    assert all(root.exists() for root in roots), [str(r) for r in roots if not r.exists()]
    count, hits = scan(roots, secrets)
    assert count > 100, count  # really looked at the run's files
    assert hits == []
    # The scan does find secrets where they are meant to be: the Docker config files.
    assert scan([tmp_path / "docker-good"], secrets)[1] == [f"{name} in {tmp_path / 'docker-good' / 'config.json'}" for name in ("basic auth header", "token user auth header")]
