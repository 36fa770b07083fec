"""Faults with real processes (issue 7, part 2): a registry killed mid-push, a fault-injecting
proxy (dropped connections, 5xx, 429 with ``Retry-After``), tokens that expire mid-push, a
corrupted base-image blob, an interrupted ``./pants package`` and an unreachable API server.

Every test talks to a real ``docker-registry`` (and token server, skopeo, ``./pants``,
``kubectl``) on loopback; the faults come from the tests' own proxies, which sit between the
client and the real registry. Helpers here (``ThrottleProxy``, ``PatternProxy``, ``run_cli``,
``write_big_layout``, ``assert_tag_complete_or_absent``) are reused by the security and load
tests.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from pants_backend_ko.codec import encode
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient
from pants_backend_ko.tool.messages import BaseFetch
from tests.peers.pants_repo import make_scratch_repo
from tests.peers.rss import descendants
from tests.peers.registry import (
    TOKEN_PASSWORD,
    TOKEN_USER,
    FaultProxy,
    RegistryPeer,
    Rule,
    free_port,
    skopeo,
    write_docker_config,
    write_test_layout,
)
from tests.peers.token_server import TokenServer

pytestmark = pytest.mark.peers

REPO_ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
SERVER = "src.go.cmd.server/server"
WORKER = "src.go.cmd.worker/worker"
# Pants' default named caches (pants.toml does not move them); the ko base-image cache lives there.
# Where Pants keeps named caches by default: it honours XDG_CACHE_HOME, as CI machines may set it.
SHARED_NAMED_CACHES = Path(
    os.environ.get("PANTS_NAMED_CACHES_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pants/named_caches"
)


# ------------------------------------------------------------------ helpers


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m pants_backend_ko.tool ...`` as a real process with a clean environment."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT / "pants-plugins"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.tool", *args],
        capture_output=True, env=full_env, timeout=timeout, text=True,
    )


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT / "pants-plugins"), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "pants_backend_ko.tool", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def one_error_line(stderr: str) -> str:
    """The stderr of a failed CLI run must be exactly one ``error: ...`` line."""
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    return stderr.strip()


@dataclass(frozen=True)
class BigLayout:
    path: str
    root_digest: str
    blobs: tuple[tuple[str, int], ...]  # (digest, size) of the config and layers


def write_big_layout(path: Path, layer_sizes: Sequence[int]) -> BigLayout:
    """A single-image OCI layout with uncompressed tar layers of random (incompressible) data."""
    blobs_dir = path / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs_dir / digest[7:]).write_bytes(data)
        return digest

    layers = []
    for i, size in enumerate(layer_sizes):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo(f"ko-app/data-{i}")
            info.size, info.mode, info.mtime = size, 0o444, 0
            tar.addfile(info, io.BytesIO(os.urandom(size)))
        data = buf.getvalue()
        layers.append((put(data), len(data)))
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/ko-app/app"]},
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
    }, sort_keys=True).encode()
    config_digest = put(config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": s, "digest": d} for d, s in layers],
    }, sort_keys=True).encode()
    root = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(manifest), "digest": root}],
    }))
    return BigLayout(str(path), root, ((config_digest, len(config)), *layers))


def manifest_blobs(peer: RegistryPeer, repository: str, digest: str) -> list[tuple[str, int]]:
    """(digest, size) of the config and layers of an image manifest, read from the registry."""
    status, _, data = peer.raw_request("GET", f"/v2/{repository}/manifests/{digest}",
                                       {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200, status
    doc = json.loads(data)
    return [(d["digest"], d["size"]) for d in [doc["config"], *doc["layers"]]]


def assert_tag_complete_or_absent(peer: RegistryPeer, repository: str, tag: str) -> str | None:
    """The tag is absent, or it names a manifest all of whose blobs the registry has (HEAD each)."""
    status, headers, _ = peer.raw_request("HEAD", f"/v2/{repository}/manifests/{tag}",
                                          {"Accept": "application/vnd.oci.image.manifest.v1+json"})
    if status == 404:
        return None
    assert status == 200, status
    digest = headers["docker-content-digest"]
    for blob, size in manifest_blobs(peer, repository, digest):
        blob_status, blob_headers, _ = peer.raw_request("HEAD", f"/v2/{repository}/blobs/{blob}")
        assert blob_status == 200, f"{repository}:{tag} -> {digest} references {blob}, which the registry lacks"
        assert int(blob_headers["content-length"]) == size
    return digest


class ThrottleProxy:
    """A TCP proxy on 127.0.0.1 that forwards to a loopback port, sending client bytes at
    ``rate`` bytes/s (so an upload is slow enough to be interrupted on purpose)."""

    def __init__(self, upstream_port: int, rate: float) -> None:
        self.upstream_port = upstream_port
        self.rate = rate
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()  # the registry is down: the client sees its connection closed
            return
        upstream.settimeout(None)
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket, throttled: bool) -> None:
            sent, start = 0, time.monotonic()
            try:
                while not done.is_set():
                    data = src.recv(64 * 1024)
                    if not data:
                        break
                    dst.sendall(data)
                    sent += len(data)
                    if throttled:
                        time.sleep(max(0.0, sent / self.rate - (time.monotonic() - start)))
            except OSError:
                pass
            finally:
                done.set()
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        back.start()
        pump(client, upstream, True)
        back.join(timeout=10)
        client.close()
        upstream.close()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()


# A fault decision: ("drop", 0, {}) closes the connection without an answer;
# ("status", code, headers) answers with that status instead of forwarding.
Fault = tuple[str, int, dict[str, str]]


class PatternProxy(FaultProxy):
    """:class:`FaultProxy` plus a deterministic fault pattern over *all* requests (by count),
    dropped connections, and a timestamp per request (to measure back-off)."""

    def __init__(self, upstream: RegistryPeer, pattern: Callable[[int, str, str], Fault | None] | None = None) -> None:
        self.pattern = pattern
        self.count = 0
        self.injected: list[tuple[int, str, str, str, int]] = []  # (n, method, path, kind, status)
        self.timeline: list[tuple[float, str, str, int]] = []  # (monotonic, method, path, status or 0 for drop)
        self._pattern_lock = threading.Lock()
        super().__init__(upstream)

    def _decide(self, method: str, path: str) -> Fault | None:
        with self._pattern_lock:
            self.count += 1
            n = self.count
            fault = self.pattern(n, method, path) if self.pattern else None
            if fault is not None:
                self.injected.append((n, method, path.split("?")[0], fault[0], fault[1]))
            return fault

    def _handler(self, *, storage: bool):
        base = super()._handler(storage=storage)
        proxy = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def _handle(self) -> None:
                if storage:
                    return base._handle(self)
                fault = proxy._decide(self.command, self.path)
                now = time.monotonic()
                if fault is None:
                    with proxy._lock:
                        before = len(proxy.log)
                    base._handle(self)
                    with proxy._lock:
                        status = proxy.log[-1].status if len(proxy.log) > before else -1
                        proxy.timeline.append((now, self.command, self.path.split("?")[0], status))
                    return None
                self._body()
                kind, status, headers = fault
                with proxy._lock:
                    proxy.timeline.append((now, self.command, self.path.split("?")[0], status if kind == "status" else 0))
                if kind == "drop":
                    # Reset the connection without answering: the client sees it dropped.
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return None
                body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "injected fault"}]}).encode()
                self._reply(status, {"Content-Type": "application/json", **headers}, body)
                return None

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


# --------------------------------------------------- registry killed mid-push


def upload_bytes_received(peer: RegistryPeer, repository: str) -> int:
    """Bytes of unfinished uploads the registry has written for ``repository``."""
    uploads = Path(peer.storage_dir, "docker/registry/v2/repositories", repository, "_uploads")
    total = 0
    for data in uploads.glob("*/data") if uploads.is_dir() else ():
        try:
            total = max(total, data.stat().st_size)
        except FileNotFoundError:
            pass
    return total


def test_registry_killed_mid_push_rerun_completes_and_tag_never_dangles(tmp_path, unique_repo):
    peer = RegistryPeer(str(tmp_path / "registry"), "plain").start()
    throttle = ThrottleProxy(peer.port, rate=12 * MB)
    try:
        # v1 first points at a small, complete image.
        small = write_test_layout(str(tmp_path / "small"), single=True)
        first = run_cli("push", "--layout", small.path, "--repository", f"{peer.host}/{unique_repo}", "--tag", "v1")
        assert first.returncode == 0, first.stderr
        assert assert_tag_complete_or_absent(peer, unique_repo, "v1") == small.root_digest

        big = write_big_layout(tmp_path / "big", [40 * MB, 256 * 1024])
        push = start_cli("push", "--layout", big.path, "--repository", f"{throttle.host}/{unique_repo}", "--tag", "v1", "--jobs", "1")
        try:
            wait_for(lambda: upload_bytes_received(peer, unique_repo) > 4 * MB, 60, "the big layer's upload to start")
            # Mid-upload, the tag still points at the old, complete image.
            assert assert_tag_complete_or_absent(peer, unique_repo, "v1") == small.root_digest
            os.kill(peer.process.pid, signal.SIGKILL)
            peer.process.wait(timeout=10)
            received = upload_bytes_received(peer, unique_repo)
            assert 4 * MB < received < 40 * MB, received  # really killed in the middle
            stdout, stderr = push.communicate(timeout=90)
        finally:
            if push.poll() is None:
                push.kill()
                push.communicate(timeout=10)
        assert push.returncode == 1 and stdout == ""
        line = one_error_line(stderr)
        assert line.startswith(f"error: registry {throttle.host}: ") and "check that the registry is running" in line, line

        # Restart on the same storage and port: the tag still names the old complete image.
        peer.start()
        assert assert_tag_complete_or_absent(peer, unique_repo, "v1") == small.root_digest

        rerun = run_cli("push", "--layout", big.path, "--repository", f"{peer.host}/{unique_repo}", "--tag", "v1",
                        "--json-output", str(tmp_path / "rerun.json"))
        assert rerun.returncode == 0, rerun.stderr
        assert rerun.stdout == f"{peer.host}/{unique_repo}@{big.root_digest}\n"
        assert assert_tag_complete_or_absent(peer, unique_repo, "v1") == big.root_digest
        assert manifest_blobs(peer, unique_repo, big.root_digest) == list(big.blobs)
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{peer.host}/{unique_repo}:v1")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == big.root_digest
        # The registry's copy of the big layer is byte-identical to the layout's.
        layer_digest = big.blobs[1][0]
        with open(peer.blob_data_path(layer_digest), "rb") as f:
            assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == layer_digest
    finally:
        throttle.stop()
        peer.stop()


def test_registry_restarted_while_the_client_retries_push_completes_with_a_new_upload(tmp_path, unique_repo):
    peer = RegistryPeer(str(tmp_path / "registry"), "plain").start()
    throttle = ThrottleProxy(peer.port, rate=12 * MB)
    try:
        big = write_big_layout(tmp_path / "big", [24 * MB])
        push = start_cli("-v", "push", "--layout", big.path, "--repository", f"{throttle.host}/{unique_repo}", "--tag", "v1")
        try:
            wait_for(lambda: upload_bytes_received(peer, unique_repo) > 4 * MB, 60, "the big layer's upload to start")
            os.kill(peer.process.pid, signal.SIGKILL)
            peer.process.wait(timeout=10)
            peer.start()  # back within the client's retry window, but without the upload session
            stdout, stderr = push.communicate(timeout=90)
        finally:
            if push.poll() is None:
                push.kill()
                push.communicate(timeout=10)
        assert push.returncode == 0, stderr
        assert stdout == f"{throttle.host}/{unique_repo}@{big.root_digest}\n"
        assert f"the registry lost the upload of blob {big.blobs[1][0]}" in stderr
        assert assert_tag_complete_or_absent(peer, unique_repo, "v1") == big.root_digest
    finally:
        throttle.stop()
        peer.stop()


# ------------------------------------------------------- fault-injecting proxy


def every_third(n: int, method: str, path: str) -> Fault | None:
    """Every 3rd request fails, cycling through 503, a dropped connection, 429 + Retry-After, 500."""
    if n % 3:
        return None
    kinds: list[Fault] = [
        ("status", 503, {}),
        ("drop", 0, {}),
        ("status", 429, {"Retry-After": "1"}),
        ("status", 500, {}),
    ]
    return kinds[(n // 3 - 1) % len(kinds)]


def test_push_through_drops_5xx_and_429_succeeds(registry_plain, tmp_path, unique_repo):
    proxy = PatternProxy(registry_plain, every_third)
    try:
        layout = write_test_layout(str(tmp_path / "layout"))  # an index of two images: 8 blobs/manifests
        with RegistryClient(proxy.host, backoff=0.05) as client:
            result = push_layout(layout.path, unique_repo, ["v1", "v2"], client=client, jobs=2)
        assert result.digest == layout.root_digest
    finally:
        proxy.stop()
    kinds = {(kind, status) for _, _, _, kind, status in proxy.injected}
    assert kinds == {("status", 503), ("drop", 0), ("status", 429), ("status", 500)}, proxy.injected
    assert len(proxy.injected) >= 8
    # The push succeeded although a third of its requests failed: check the result on the
    # registry itself, bypassing the proxy.
    for tag in ("v1", "v2"):
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry_plain.host}/{unique_repo}:{tag}")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == layout.root_digest
    for image in layout.images:
        assert assert_tag_complete_or_absent(registry_plain, unique_repo, image.manifest_digest) == image.manifest_digest


def test_retry_after_is_honoured_in_seconds_and_http_date(registry_plain, tmp_path, unique_repo):
    proxy = PatternProxy(registry_plain)
    try:
        layout = write_test_layout(str(tmp_path / "layout"), single=True)
        when = email.utils.formatdate(time.time() + 3, usegmt=True)  # an HTTP-date, whole seconds
        proxy.add_rule(Rule("HEAD", r"/manifests/sha256:", "respond", status=429, headers={"Retry-After": when}, times=1))
        proxy.add_rule(Rule("PUT", r"/manifests/v1$", "respond", status=503, headers={"Retry-After": "2"}, times=1))
        with RegistryClient(proxy.host, backoff=0.01) as client:
            result = push_layout(layout.path, unique_repo, ["v1"], client=client)
        assert result.digest == layout.root_digest
    finally:
        proxy.stop()

    def gap_after(method: str, suffix: str, status: int) -> float:
        times = [(t, s) for t, m, p, s in sorted(proxy.timeline) if m == method and p.endswith(suffix)]
        index = next(i for i, (_, s) in enumerate(times) if s == status)
        return times[index + 1][0] - times[index][0]

    # Without Retry-After the client would wait 0.01 s; it waited what the registry asked.
    assert 1.5 <= gap_after("HEAD", layout.root_digest, 429) < 6
    assert 1.9 <= gap_after("PUT", "/manifests/v1", 503) < 6


def test_permanently_failing_registry_gives_up_within_budget_in_one_line(registry_plain, tmp_path, unique_repo):
    proxy = PatternProxy(registry_plain, lambda n, m, p: ("status", 503, {}) if p.startswith(f"/v2/{unique_repo}/") else None)
    try:
        layout = write_test_layout(str(tmp_path / "layout"), single=True)
        start = time.monotonic()
        proc = run_cli("push", "--layout", layout.path, "--repository", f"{proxy.host}/{unique_repo}", "--tag", "v1")
        elapsed = time.monotonic() - start
        line = one_error_line(proc.stderr)
        assert proc.returncode == 1 and proc.stdout == ""
        assert line == (
            f"error: registry {proxy.host}: HEAD /v2/{unique_repo}/manifests/{layout.root_digest}: "
            "503 Service Unavailable (the registry failed after 5 attempts; try again later)"
        )
        # Default back-off 0.5+1+2+4 s between 5 attempts: bounded, well within the 120 s budget.
        assert 7 <= elapsed < 30, elapsed
        assert len(proxy.injected) == 5

        # A 429 asking for an hour is not waited for: one attempt, and the error says why.
        proxy.pattern = lambda n, m, p: ("status", 429, {"Retry-After": "3600"}) if p.startswith(f"/v2/{unique_repo}/") else None
        start = time.monotonic()
        limited = run_cli("push", "--layout", layout.path, "--repository", f"{proxy.host}/{unique_repo}", "--tag", "v1")
        assert limited.returncode == 1 and time.monotonic() - start < 10
        line = one_error_line(limited.stderr)
        assert f"error: registry {proxy.host}: HEAD /v2/{unique_repo}/manifests/" in line
        assert line.endswith(": 429 TOOMANYREQUESTS (rate limited after 1 attempt; try again later)"), line
        assert len(proxy.injected) == 6  # 5 before, and exactly 1 now
    finally:
        proxy.stop()
    # Nothing reached the registry: the tag does not exist.
    assert assert_tag_complete_or_absent(registry_plain, unique_repo, "v1") is None


# ------------------------------------------------------ token expiring mid-push

# distribution accepts a token up to 60 s after its "exp" (clock-skew leeway, token.Leeway).
DISTRIBUTION_TOKEN_LEEWAY = 60


class ShortLivedTokenServer(TokenServer):
    """Issues tokens the registry accepts for only ``real_lifetime`` seconds while telling the
    client they last 300 s, so the client learns of the expiry from the registry's 401."""

    real_lifetime = 2

    def _issue(self, method, grant, user, ok, scopes):
        status, body, record = super()._issue(method, grant, user, ok, scopes)
        if status == 200:
            body["expires_in"] = 300
        return status, body, record


def test_token_expiring_mid_push_is_refreshed(tmp_path, unique_repo):
    server = ShortLivedTokenServer(
        str(tmp_path / "tokens"), users={TOKEN_USER: TOKEN_PASSWORD},
        expires_in=ShortLivedTokenServer.real_lifetime - DISTRIBUTION_TOKEN_LEEWAY,
    ).start()
    peer = RegistryPeer(str(tmp_path / "registry"), "token", token_server=server).start()
    throttle = ThrottleProxy(peer.port, rate=4 * MB)
    try:
        layout = write_big_layout(tmp_path / "layout", [5 * MB, 5 * MB, 5 * MB, 5 * MB])
        # The client talks to the registry through the throttle: the credential is for that host.
        write_docker_config(str(tmp_path / "docker"), throttle.host, TOKEN_USER, TOKEN_PASSWORD)
        env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
        mark, registry_mark = server.mark(), peer.mark()
        start = time.monotonic()
        proc = run_cli("push", "--layout", layout.path, "--repository", f"{throttle.host}/{unique_repo}",
                       "--tag", "v1", "--jobs", "1", env=env)
        elapsed = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{throttle.host}/{unique_repo}@{layout.root_digest}\n"
        assert elapsed > 2 * ShortLivedTokenServer.real_lifetime  # the push outlived its first token
        fetched = [r for r in server.requests_since(mark) if r.status == 200 and r.user == TOKEN_USER]
        assert len(fetched) >= 2, fetched  # refreshed after the registry refused the expired one
        # The registry did refuse an expired token after part of the push had succeeded.
        statuses = [r.status for r in peer.requests_since(registry_mark) if r.path != "/v2/"]
        first_ok = next(i for i, status in enumerate(statuses) if status in (201, 202))
        assert 401 in statuses[first_ok:], statuses
        assert all(r.granted == ((unique_repo, ("pull", "push")),) for r in fetched)
        raw = skopeo("inspect", "--raw", *peer.skopeo_flags(), f"docker://{peer.host}/{unique_repo}:v1")
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == layout.root_digest
        assert TOKEN_PASSWORD not in proc.stderr + proc.stdout
    finally:
        throttle.stop()
        peer.stop()
        server.stop()


# ----------------------------------------------------- corrupted base-image blob


def flip_bytes(path: str) -> bytes:
    """Flip some bytes in the middle of a file (same size); return the original content."""
    with open(path, "rb") as f:
        original = f.read()
    middle = len(original) // 2
    corrupted = original[:middle] + bytes(b ^ 0xFF for b in original[middle : middle + 16]) + original[middle + 16 :]
    assert len(corrupted) == len(original) and corrupted != original
    with open(path, "wb") as f:
        f.write(corrupted)
    return original


def files_named(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.name == name or name in p.name] if root.exists() else []


def test_corrupted_base_blob_is_refused_by_digest_and_never_cached(registry_plain, tmp_path, unique_repo):
    base = write_test_layout(str(tmp_path / "base"), platforms=("linux/amd64",), single=True)
    with RegistryClient(registry_plain.host) as client:
        push_layout(base.path, f"{unique_repo}/base", ["v1"], client=client)
    ref = f"{registry_plain.host}/{unique_repo}/base:v1"
    layer = base.images[0].layer_digests[1]
    original = flip_bytes(registry_plain.blob_data_path(layer))

    # The fetch the Pants rules run (the tool's `base` verb): one line naming the digest; nothing kept.
    out, cache = tmp_path / "out", tmp_path / "cache"
    request = tmp_path / "base-request.json"
    request.write_bytes(encode(BaseFetch(reference=ref, platforms=("linux/amd64",), cache_dir=str(cache))))
    tool = run_cli("base", "--request", str(request), "--out", str(out), timeout=60)
    assert tool.returncode == 1
    line = one_error_line(tool.stderr)
    assert line.startswith(f"error: registry {registry_plain.host}: blob {unique_repo}/base@{layer}: the downloaded content hashes to sha256:"), line
    assert "refusing it and not caching it" in line
    assert files_named(cache, layer[7:]) == [] and files_named(out, layer[7:]) == []
    assert [p for p in out.rglob("*") if ".partial-" in p.name] == []

    # `pants package`: the same error, attributed to the target; nothing in dist/ or the caches.
    # The layer is random, so any file named after it in the shared cache would be from this run.
    app = make_scratch_repo(tmp_path / "app", files={"src/go/cmd/worker/BUILD": f'ko_image(name="worker", base_image="{ref}")\n'})
    base_cache = SHARED_NAMED_CACHES / "ko_base_blobs"
    failed = app.pants("package", "src/go/cmd/worker:worker", check=False, timeout=300)
    assert failed.returncode != 0
    assert f"src/go/cmd/worker:worker: base image '{ref}': registry {registry_plain.host}: blob {unique_repo}/base@{layer}: the downloaded content hashes to" in failed.stderr
    assert not (app.root / "dist" / WORKER).exists()
    assert files_named(base_cache, layer[7:]) == []

    # Repaired in the registry, the next run succeeds: no bad result was cached anywhere.
    with open(registry_plain.blob_data_path(layer), "wb") as f:
        f.write(original)
    app.pants("package", "src/go/cmd/worker:worker", timeout=300)
    # Now the verified layer is in the cache (so the check above looked in the right place).
    cached = [p for p in files_named(base_cache, layer[7:]) if p.is_file()]
    assert cached and all("sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() == layer for p in cached)
    meta = app.image_metadata(WORKER)
    manifest = json.loads((app.root / "dist" / WORKER / "blobs/sha256" / meta["digest"][7:]).read_bytes())
    if "manifests" in manifest:  # an index: look at its only image
        manifest = json.loads((app.root / "dist" / WORKER / "blobs/sha256" / manifest["manifests"][0]["digest"][7:]).read_bytes())
    assert [layer_desc["digest"] for layer_desc in manifest["layers"][:2]] == list(base.images[0].layer_digests)
    layer_file = app.root / "dist" / WORKER / "blobs/sha256" / layer[7:]
    assert "sha256:" + hashlib.sha256(layer_file.read_bytes()).hexdigest() == layer


# ------------------------------------------------------ interrupted ./pants run


def start_pants(repo_root: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("KO_DOCKER_REPO", None)
    return subprocess.Popen(
        [str(repo_root / "pants"), "--no-pantsd", "--no-dynamic-ui", *args], cwd=repo_root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def interrupt_during_go_build(proc: subprocess.Popen, sig: int) -> str:
    """Wait until the Go compiler runs under ``proc``, let it work a moment, then send ``sig``."""
    compilers = ("go", "compile", "link", "asm")
    try:
        wait_for(lambda: proc.poll() is not None or any(n in compilers for _, n in descendants(proc.pid)), 120,
                 "the Go compiler to start under ./pants")
        assert proc.poll() is None, "pants finished before it could be interrupted"
        time.sleep(0.3)
        os.killpg(proc.pid, sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
    return stderr


def slow_to_compile_source() -> str:
    """A Go file of package main that nobody built before and that takes the compiler a few
    seconds, so that a run can be interrupted while it compiles."""
    nonce = os.urandom(8).hex()
    lines = ["package main", "", f'const buildNonce = "{nonce}"', ""]
    lines += [f"func slow{i}(x int) int {{ if x > {i} {{ return x*{i + 1} + {i} }}; return x - {i} }}" for i in range(400)]
    return "\n".join(lines) + "\n"


def test_interrupted_pants_package_then_next_run_is_correct(tmp_path):
    source = {"src/go/cmd/worker/slow.go": slow_to_compile_source()}
    app = make_scratch_repo(tmp_path / "app", files=source)
    # The shared local store and named caches, as a user's interrupted run would leave them
    # (LMDB and Go's cache are written atomically; this checks that nothing bad is reused).

    killed = start_pants(app.root, "package", "src/go/cmd/worker:worker")
    interrupt_during_go_build(killed, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    interrupted = start_pants(app.root, "package", "src/go/cmd/worker:worker")
    stderr = interrupt_during_go_build(interrupted, signal.SIGINT)
    assert interrupted.returncode != 0, stderr[-3000:]
    assert not (app.root / "dist" / WORKER).exists()

    # The next run, on the caches the interrupted runs left behind, completes...
    app.pants("package", "src/go/cmd/worker:worker", timeout=400)
    meta = app.image_metadata(WORKER)
    # ...with the digest of a build in another repository that was never interrupted.
    # (--no-local-cache: it runs every process itself instead of reusing the run above.)
    clean = make_scratch_repo(tmp_path / "clean", files=source)
    clean.pants("--no-local-cache", "package", "src/go/cmd/worker:worker", timeout=400)
    assert meta["digest"] == clean.image_metadata(WORKER)["digest"]
    for blob in (app.root / "dist" / WORKER / "blobs/sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


# -------------------------------------------------- API server down during apply


def test_unreachable_api_server_fails_apply_clearly_and_writes_nothing(registry_plain, tmp_path, unique_repo):
    closed_port = free_port()  # nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: down\n"
        f"clusters:\n- name: down\n  cluster:\n    server: https://127.0.0.1:{closed_port}\n    insecure-skip-tls-verify: true\n"
        "users:\n- name: u\n  user:\n    token: not-a-real-token\n"
        "contexts:\n- name: down\n  context:\n    cluster: down\n    user: u\n"
    )
    app = make_scratch_repo(tmp_path / "app")
    env = {"KO_DOCKER_REPO": f"{registry_plain.host}/{unique_repo}", "KUBECONFIG": str(kubeconfig)}
    result = app.pants("run", "src/config:apply", env=env, check=False, timeout=300)
    assert result.returncode != 0
    assert f"127.0.0.1:{closed_port}" in result.stderr and "connection refused" in result.stderr, result.stderr[-3000:]
    # Nothing half-rendered: `run` leaves dist/ without any YAML.
    dist = app.root / "dist"
    assert not dist.exists() or [p for p in dist.rglob("*") if p.suffix in (".yaml", ".yml", ".json")] == []
