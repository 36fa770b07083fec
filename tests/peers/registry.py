"""Real registry peers for tests: CNCF distribution 2.8 (``docker-registry``) on loopback.

* :class:`RegistryPeer` runs ``docker-registry serve <config>`` on 127.0.0.1 with a
  free port and its own storage directory, in one of three set-ups: plain HTTP,
  TLS (a CA and a server certificate made with ``openssl``) + htpasswd Basic auth
  (``htpasswd -Bbn``), or token auth against :class:`tests.peers.token_server.TokenServer`.
  It waits for readiness, stops by PID, and parses the registry's access log so
  tests can see exactly which requests reached it (:meth:`RegistryPeer.mark`,
  :meth:`RegistryPeer.requests_since`).
* :class:`FaultProxy` is a recording reverse proxy on loopback in front of a
  plain-HTTP registry. It passes everything through unchanged unless a rule says
  otherwise (answer 429/5xx/403, add a header, redirect blob downloads to a
  recording "storage" server, point upload locations elsewhere).
* :func:`write_test_layout` writes small but valid OCI image layouts (real
  tar+gzip layers, OCI or Docker media types, one or more platforms) with
  plain stdlib code.
* :func:`skopeo` runs skopeo with a timeout and the flags a peer needs.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.peers.token_server import TokenServer

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"
READY_TIMEOUT = 20.0
COMMAND_TIMEOUT = 60.0

BASIC_USER = "alice"
BASIC_PASSWORD = "s3cret-alice-pw"
TOKEN_USER = "bob"
TOKEN_PASSWORD = "s3cret-bob-pw"
TOKEN_READONLY_USER = "carol"
TOKEN_READONLY_PASSWORD = "s3cret-carol-pw"
IDENTITY_TOKEN = "s3cret-refresh-token-for-bob"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, input: bytes | None = None, check: bool = True, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed with {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-2000:]}"
        )
    return proc


# ----------------------------------------------------------------- TLS files


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: str
    cert: str
    key: str
    cert_dir: str  # a directory with ca.crt, as skopeo --cert-dir wants


def make_tls_files(workdir: str) -> TlsFiles:
    """A CA and a server certificate for IP 127.0.0.1 / localhost, made with openssl."""
    os.makedirs(workdir, exist_ok=True)
    ca_key, ca_cert = os.path.join(workdir, "ca.key"), os.path.join(workdir, "ca.pem")
    key, csr, cert = (os.path.join(workdir, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(workdir, "server.ext")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_cert,
         "-days", "2", "-subj", "/CN=pants-backend-ko test CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext])
    cert_dir = os.path.join(workdir, "certs.d")
    os.makedirs(cert_dir, exist_ok=True)
    shutil.copyfile(ca_cert, os.path.join(cert_dir, "ca.crt"))
    return TlsFiles(ca_cert, cert, key, cert_dir)


# ------------------------------------------------------------- the registry


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path}{'?' + self.query if self.query else ''} {self.status}"


_ACCESS_RE = re.compile(r'^\S+ - \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) ')
_MARKER_PREFIX = "/v2/zz-log-marker/"


class RegistryPeer:
    """A ``docker-registry`` process on 127.0.0.1; ``kind`` is ``plain``, ``tls-basic`` or ``token``."""

    def __init__(self, workdir: str, kind: str = "plain", *, token_server: TokenServer | None = None) -> None:
        assert kind in ("plain", "tls-basic", "token"), kind
        self.kind = kind
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.storage_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "registry.log")
        self.port = free_port()
        self.tls: TlsFiles | None = make_tls_files(os.path.join(workdir, "tls")) if kind == "tls-basic" else None
        self.token_server = token_server
        self.username: str | None = None
        self.password: str | None = None
        self.process: subprocess.Popen | None = None
        self._log_lock = threading.Lock()

    # ---------------------------------------------------------- addresses

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def ref(self, repository: str, tag_or_digest: str = "latest") -> str:
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{repository}{sep}{tag_or_digest}"

    # ---------------------------------------------------------- lifecycle

    def _config(self) -> str:
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog: {disabled: false}",
            "storage:",
            f"  filesystem: {{rootdirectory: {self.storage_dir}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            f"  secret: {uuid.uuid4().hex}",
        ]
        if self.tls:
            lines += [f"  tls: {{certificate: {self.tls.cert}, key: {self.tls.key}}}"]
        if self.kind == "tls-basic":
            htpasswd = os.path.join(self.workdir, "htpasswd")
            line = run(["htpasswd", "-Bbn", BASIC_USER, BASIC_PASSWORD]).stdout.decode().strip()
            with open(htpasswd, "w") as f:
                f.write(line + "\n")
            self.username, self.password = BASIC_USER, BASIC_PASSWORD
            lines += ["auth:", f"  htpasswd: {{realm: basic-realm, path: {htpasswd}}}"]
        if self.kind == "token":
            assert self.token_server is not None
            ts = self.token_server
            self.username, self.password = TOKEN_USER, TOKEN_PASSWORD
            lines += [
                "auth:",
                "  token:",
                f"    realm: {ts.realm}",
                f"    service: {ts.service}",
                f"    issuer: {ts.issuer}",
                f"    rootcertbundle: {ts.root_cert_path}",
            ]
        path = os.path.join(self.workdir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self) -> RegistryPeer:
        config = self._config()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [REGISTRY_BIN, "serve", config], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.process.returncode}: {self._log_tail()}")
            try:
                status, _, _ = self.raw_request("GET", "/v2/")
                if status in (200, 401):
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry on {self.host} not ready within {READY_TIMEOUT}s: {self._log_tail()}")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-1500:].decode("utf-8", "replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ raw HTTP

    def raw_request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request with http.client (no client code under test involved)."""
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls.ca_cert)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    # --------------------------------------------------------- request log

    def _read_log_requests(self) -> list[LoggedRequest]:
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                m = _ACCESS_RE.match(raw.decode("utf-8", "replace"))
                if m:
                    uri = m.group("uri")
                    path, _, query = uri.partition("?")
                    out.append(LoggedRequest(m.group("method"), path, query, int(m.group("status"))))
        return out

    def _marker(self) -> int:
        """Send a marker request, wait until the access log shows it, return its position."""
        marker = f"{_MARKER_PREFIX}{uuid.uuid4().hex}/tags/list"
        self.raw_request("GET", marker)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            entries = self._read_log_requests()
            for i, entry in enumerate(entries):
                if entry.path == marker:
                    time.sleep(0.05)  # lines of requests answered just before the marker
                    return i
            time.sleep(0.02)
        raise AssertionError("registry access log did not show the marker request within 5s")

    def mark(self) -> int:
        with self._log_lock:
            return self._marker()

    def requests_since(self, mark: int) -> list[LoggedRequest]:
        """Requests the registry answered after ``mark`` (markers excluded), in log order."""
        with self._log_lock:
            end = self._marker()
            entries = self._read_log_requests()
        return [e for e in entries[mark + 1 : end] if not e.path.startswith(_MARKER_PREFIX)]

    # ------------------------------------------------------------- storage

    def blob_data_path(self, digest: str) -> str:
        hexdigest = digest.split(":", 1)[1]
        return os.path.join(self.storage_dir, "docker", "registry", "v2", "blobs", "sha256", hexdigest[:2], hexdigest, "data")

    # ------------------------------------------------------- client set-up

    @property
    def ca_bundle(self) -> str | None:
        return self.tls.ca_cert if self.tls else None

    def docker_config_env(self, directory: str, *, form: str = "auth") -> dict[str, str]:
        """An environment whose Docker config holds this peer's credentials (empty config if none)."""
        os.makedirs(directory, exist_ok=True)
        if self.username:
            write_docker_config(directory, self.host, self.username, self.password or "", form=form)
        else:
            with open(os.path.join(directory, "config.json"), "w") as f:
                f.write("{}")
        return {"DOCKER_CONFIG": directory}

    # -------------------------------------------------------------- skopeo

    def skopeo_flags(self, direction: str = "") -> list[str]:
        """TLS and credential flags for skopeo; ``direction`` is '', 'src' or 'dest'."""
        prefix = f"--{direction}-" if direction else "--"
        flags = []
        if self.tls:
            flags += [f"{prefix}cert-dir={self.tls.cert_dir}"]
        else:
            flags += [f"{prefix}tls-verify=false"]
        if self.username:
            flags += [f"{prefix}creds={self.username}:{self.password}"]
        return flags


def skopeo(*args: str, timeout: float = COMMAND_TIMEOUT) -> bytes:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    # Keep skopeo from reading the machine's registries.conf mirrors or auth files.
    env["REGISTRY_AUTH_FILE"] = "/nonexistent/auth.json"
    return run([SKOPEO_BIN, "--insecure-policy", *args], timeout=timeout, env=env).stdout


# ------------------------------------------------------------ fault proxy


@dataclass
class Rule:
    """When ``method`` and ``path`` (a regex) match, do ``action`` for at most ``times`` requests."""

    method: str
    path: str
    action: str  # "respond", "add_header", "redirect_blob", "rewrite_location", "relative_location"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    times: int = 1_000_000
    after: int = 0  # let this many matching requests through untouched first
    used: int = 0
    seen: int = 0


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    query: str
    status: int
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def read_request_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The body of the request ``handler`` is serving (chunked or with a Content-Length)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(handler.rfile.readline().strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return out
            out += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True


class FaultProxy:
    """A recording reverse proxy on 127.0.0.1 in front of a plain-HTTP registry.

    ``storage`` is a second loopback server (another port, so another origin) that
    answers redirected blob downloads by fetching the blob from the registry
    itself, and records the headers it received.
    """

    def __init__(self, upstream: RegistryPeer) -> None:
        assert upstream.kind == "plain", "the proxy fronts the plain-HTTP registry"
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.log: list[ProxiedRequest] = []
        self.storage_log: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._server = _Recorder(("127.0.0.1", 0), self._handler(storage=False))
        self._storage = _Recorder(("127.0.0.1", 0), self._handler(storage=True))
        for srv in (self._server, self._storage):
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def storage_host(self) -> str:
        return f"127.0.0.1:{self._storage.server_address[1]}"

    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()
            self.storage_log.clear()

    def stop(self) -> None:
        for srv in (self._server, self._storage):
            srv.shutdown()
            srv.server_close()

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and re.search(rule.path, path) and rule.used < rule.times:
                    rule.seen += 1
                    if rule.seen <= rule.after:
                        continue
                    rule.used += 1
                    return rule
        return None

    def _handler(self, *, storage: bool):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                return read_request_body(self)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                path, _, query = self.path.partition("?")
                record_headers = tuple((k, v) for k, v in self.headers.items())
                if storage:
                    # Serve a redirected blob download: fetch it from the registry without auth.
                    status, headers, data = proxy.upstream.raw_request("GET", path)
                    with proxy._lock:
                        proxy.storage_log.append(ProxiedRequest(self.command, path, query, status, record_headers))
                    self._reply(status, {"Content-Type": "application/octet-stream"}, data)
                    return
                rule = proxy._match(self.command, path)
                if rule is not None and rule.action == "respond":
                    with proxy._lock:
                        proxy.log.append(ProxiedRequest(self.command, path, query, rule.status, record_headers))
                    self._reply(rule.status, dict(rule.headers), rule.body)
                    return
                if rule is not None and rule.action == "redirect_blob":
                    location = f"http://{proxy.storage_host}{path}"
                    with proxy._lock:
                        proxy.log.append(ProxiedRequest(self.command, path, query, 307, record_headers))
                    self._reply(307, {"Location": location}, b"")
                    return
                fwd_headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
                fwd_headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST", "PATCH") else None, headers=fwd_headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status = resp.status
                    headers = {k: v for k, v in resp.getheaders()}
                finally:
                    conn.close()
                if rule is not None and rule.action == "add_header":
                    headers.update(rule.headers)
                if rule is not None and rule.action == "rewrite_location" and "Location" in headers:
                    loc = urlsplit(headers["Location"])
                    headers["Location"] = loc._replace(netloc=rule.headers["netloc"]).geturl()
                if rule is not None and rule.action == "relative_location" and "Location" in headers:
                    loc = urlsplit(headers["Location"])
                    headers["Location"] = loc._replace(scheme="", netloc="").geturl()
                with proxy._lock:
                    proxy.log.append(ProxiedRequest(self.command, path, query, status, record_headers))
                self._reply(status, headers, data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


# ---------------------------------------------------------- test layouts

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SampleImage:
    platform: str
    manifest_digest: str
    manifest_bytes: bytes
    config_digest: str
    layer_digests: tuple[str, ...]


@dataclass(frozen=True)
class SampleLayout:
    path: str
    root_digest: str
    root_media_type: str
    root_bytes: bytes
    images: tuple[SampleImage, ...]
    ref_name: str

    @property
    def blob_digests(self) -> tuple[str, ...]:
        out: list[str] = []
        for image in self.images:
            for d in (image.config_digest, *image.layer_digests):
                if d not in out:
                    out.append(d)
        return tuple(out)


def make_layer(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """A real gzip-compressed tar layer: (compressed bytes, uncompressed tar bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o555
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
        gz.write(raw)
    return out.getvalue(), raw


def write_test_layout(
    path: str,
    *,
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64"),
    single: bool = False,
    docker_types: bool = False,
    shared_layer: tuple[bytes, bytes] | None = None,
    layer_size: int = 2048,
    seed: int | None = None,
    ref_name: str = "latest",
    omit_blobs: Sequence[str] = (),
) -> SampleLayout:
    """Write an OCI layout holding an index of ``platforms`` (or one image if ``single``).

    Each image has a shared "base" layer (``shared_layer`` or a fresh one) and
    its own random layer, so digests differ between calls unless ``seed`` is
    fixed. ``omit_blobs`` leaves some blob files out (to simulate base layers).
    """
    rng = random.Random(seed if seed is not None else uuid.uuid4().int)
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    manifest_type, index_type, config_type, layer_type = (
        (DOCKER_MANIFEST, DOCKER_LIST, DOCKER_CONFIG, DOCKER_LAYER) if docker_types else (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER)
    )

    def put(data: bytes) -> str:
        digest = _digest(data)
        with open(os.path.join(path, "blobs", "sha256", digest.split(":")[1]), "wb") as f:
            f.write(data)
        return digest

    base = shared_layer or make_layer({"etc/base-release": f"base {rng.random()}\n".encode()})
    images = []
    for plat in (platforms[:1] if single else platforms):
        os_name, arch, *variant = plat.split("/")
        own = make_layer({f"ko-app/app-{arch}": bytes(rng.getrandbits(8) for _ in range(layer_size))})
        layers = [base, own]
        config = {
            "architecture": arch,
            "os": os_name,
            "config": {"Entrypoint": ["/ko-app/app"], "Env": ["PATH=/usr/bin:/ko-app"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(raw) for _, raw in layers]},
            "created": "1970-01-01T00:00:00Z",
        }
        if variant:
            config["variant"] = variant[0]
        config_bytes = _canonical(config)
        config_digest = put(config_bytes)
        layer_descs = []
        for compressed, _ in layers:
            layer_descs.append({"mediaType": layer_type, "size": len(compressed), "digest": put(compressed)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "size": len(config_bytes), "digest": config_digest},
            "layers": layer_descs,
        }
        manifest_bytes = _canonical(manifest)
        images.append(
            SampleImage(plat, put(manifest_bytes), manifest_bytes, config_digest, tuple(d["digest"] for d in layer_descs))
        )
    if single:
        root_bytes, root_type = images[0].manifest_bytes, manifest_type
    else:
        entries = []
        for image in images:
            os_name, arch, *variant = image.platform.split("/")
            plat = {"architecture": arch, "os": os_name}
            if variant:
                plat["variant"] = variant[0]
            entries.append({"mediaType": manifest_type, "size": len(image.manifest_bytes), "digest": image.manifest_digest, "platform": plat})
        root_bytes, root_type = _canonical({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}), index_type
    root_digest = put(root_bytes)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    index_json = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": root_type,
                "size": len(root_bytes),
                "digest": root_digest,
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    with open(os.path.join(path, "index.json"), "wb") as f:
        f.write(_canonical(index_json))
    for digest in omit_blobs:
        os.unlink(os.path.join(path, "blobs", "sha256", digest.split(":")[1]))
    return SampleLayout(path, root_digest, root_type, root_bytes, tuple(images), ref_name)


def client_for(peer: RegistryPeer, workdir: str, *, form: str = "auth", **options):
    """A RegistryClient for ``peer`` with its credentials in a Docker config under ``workdir``."""
    from pants_backend_ko.oci.remote.credentials import Keychain
    from pants_backend_ko.oci.remote.transport import RegistryClient

    env = peer.docker_config_env(os.path.join(workdir, f"docker-config-{peer.kind}"), form=form)
    options.setdefault("backoff", 0.05)
    return RegistryClient(peer.host, keychain=Keychain(env), ca_bundle=peer.ca_bundle, **options)


def write_docker_config(directory: str, registry: str, username: str, password: str, *, form: str = "auth") -> str:
    """A Docker config.json holding credentials for ``registry`` in the given ``auths`` form."""
    import base64

    os.makedirs(directory, exist_ok=True)
    if form == "auth":
        entry = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    elif form == "username_password":
        entry = {"username": username, "password": password}
    elif form == "identitytoken":
        entry = {"identitytoken": password}
    elif form == "registrytoken":
        entry = {"registrytoken": password}
    else:
        raise ValueError(form)
    path = os.path.join(directory, "config.json")
    with open(path, "w") as f:
        json.dump({"auths": {registry: entry}}, f)
    return path
