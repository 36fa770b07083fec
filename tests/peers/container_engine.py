"""A real Docker Engine (Debian's `docker.io`) or podman's Docker-compatible API as a test peer.

`ContainerEngine.start_docker(root)` runs `dockerd` with everything private to `root`, so that
it runs beside any other dockerd on the machine (and beside other test sessions):

    dockerd --host unix://<root>/docker.sock --host tcp://127.0.0.1:<free port>
            --data-root <root>/data --exec-root <root>/exec --pidfile <root>/docker.pid
            --config-file <root>/daemon.json --iptables=false --ip6tables=false --bridge=none
            --storage-driver=vfs

`--exec-root` holds the containerd that dockerd starts for itself (its socket and state),
`--pidfile` and `--config-file` would otherwise be the machine's `/var/run/docker.pid` and
`/etc/docker/daemon.json`; no iptables rules or bridge are touched, so containers run with
`--network none` only. vfs copies layers (slow for big images, fine for test images).

`ContainerEngine.start_podman(root)` runs `podman system service --time=0 unix://<root>/podman.sock`
with private storage (`--root`, `--runroot`, vfs), temp and event files, and a containers.conf
whose `default_ulimits` stay inside this sandbox's hard limits: podman running as root would
ask runc for RLIMIT_NOFILE 1048576, which a process without CAP_SYS_RESOURCE cannot raise
to ("error setting rlimit type 7: operation not permitted"); lower limits work, and then
`docker run --network none` through podman's socket runs containers.

`load_with_tool(engine, ...)` loads an OCI layout into an engine as `pants publish` does with
`KO_DOCKER_REPO=ko.local`: a `PushPlan` entry of kind `daemon` run by
`python -m pants_backend_ko.tool push-plan`, with the engine's `DOCKER_HOST`.

Both are driven with Debian's docker CLI (`/usr/bin/docker`, from `docker.io`; a different
`docker` may come first on PATH) and a private `DOCKER_CONFIG`. `stop()` ends the engine by its
process id (SIGTERM, then SIGKILL of its own process group) and unmounts anything left under
its folder.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from pants_backend_ko.codec import encode
from pants_backend_ko.tool.messages import DAEMON, ImagePush, PushPlan
from tests.peers.pants_repo import REPO_ROOT
from tests.peers.registry import make_tls_files

DOCKERD = "/usr/sbin/dockerd"
PODMAN = "/usr/bin/podman"
DOCKER_CLI = "/usr/bin/docker"  # Debian docker.io's client, not whatever else is on PATH

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0
CLI_TIMEOUT_S = 300.0


class EngineError(RuntimeError):
    """The engine could not be started (the message quotes the end of its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(sock: Path) -> bool:
    """Whether the Engine API answers `GET /_ping` with 200 on the unix socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


@dataclass
class ContainerEngine:
    kind: str  # "docker" or "podman"
    root: Path
    socket: Path
    tcp_port: int | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def docker_host(self) -> str:
        """The `DOCKER_HOST` value of the engine's unix socket."""
        return f"unix://{self.socket}"

    @property
    def tcp_docker_host(self) -> str | None:
        return f"tcp://127.0.0.1:{self.tcp_port}" if self.tcp_port else None

    @property
    def client_cert_path(self) -> Path:
        """`DOCKER_CERT_PATH` for a TLS engine: ca.pem, cert.pem, key.pem."""
        return self.root / "client-certs"

    @property
    def log_path(self) -> Path:
        return self.root / f"{self.kind}.log"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for the docker CLI, ko or our client to use this engine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=self.docker_host, DOCKER_CONFIG=str(self.root / "cli-config"))
        env.update(extra)
        return env

    def docker(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run Debian's docker CLI against this engine (text output captured)."""
        result = subprocess.run(
            [DOCKER_CLI, *args], env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def inspect(self, ref: str) -> dict | None:
        """`docker image inspect ref`, or None when the engine has no such image."""
        result = self.docker("image", "inspect", ref, check=False)
        if result.returncode != 0:
            if "No such image" in result.stderr or "no such image" in result.stderr.lower():
                return None
            raise AssertionError(f"docker image inspect {ref} failed: {result.stderr.strip()}")
        (value,) = json.loads(result.stdout)
        return value

    def events(self, since: float, until: float) -> list[dict]:
        """The engine's image events between two times (what it did, in its own words)."""
        result = self.docker(
            "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", "type=image",
            "--format", "{{json .}}",
        )
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    # ------------------------------------------------------------------ start / stop

    @classmethod
    def start_docker(cls, root: Path, *, tls: bool = False) -> ContainerEngine:
        """dockerd; with `tls`, its TCP address needs client certificates (`client_cert_path`)."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "daemon.json").write_text("{}\n")
        engine = cls("docker", root, root / "docker.sock", tcp_port=free_port())
        tls_flags = []
        if tls:
            server = make_tls_files(str(root / "tls"))
            make_client_cert(root / "tls", engine.client_cert_path)
            tls_flags = ["--tlsverify", f"--tlscacert={server.ca_cert}", f"--tlscert={server.cert}",
                         f"--tlskey={server.key}"]
        argv = [
            DOCKERD,
            f"--host={engine.docker_host}",
            f"--host=tcp://127.0.0.1:{engine.tcp_port}",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
            f"--config-file={root / 'daemon.json'}",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
            *tls_flags,
        ]
        return engine._start(argv, env=dict(os.environ))

    @classmethod
    def start_podman(cls, root: Path) -> ContainerEngine:
        root.mkdir(parents=True, exist_ok=True)
        for folder in ("storage", "run", "tmp", "libpod-tmp"):
            (root / folder).mkdir(exist_ok=True)
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "storage"}"\nrunroot = "{root / "run"}"\n'
        )
        limits = _sandbox_ulimits()
        (root / "containers.conf").write_text(
            "[containers]\n"
            f"default_ulimits = {json.dumps(limits)}\n"
            'netns = "none"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{root / "events.log"}"\n'
            f'tmp_dir = "{root / "libpod-tmp"}"\n'
            f'image_copy_tmp_dir = "{root / "tmp"}"\n'
        )
        (root / "registries.conf").write_text("unqualified-search-registries = []\n")
        engine = cls("podman", root, root / "podman.sock")
        env = dict(os.environ)
        env.update(
            CONTAINERS_CONF=str(root / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
            CONTAINERS_REGISTRIES_CONF=str(root / "registries.conf"),
            TMPDIR=str(root / "tmp"),
        )
        argv = [
            PODMAN,
            f"--root={root / 'storage'}",
            f"--runroot={root / 'run'}",
            f"--tmpdir={root / 'libpod-tmp'}",
            "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            "system",
            "service",
            "--time=0",
            engine.docker_host,
        ]
        return engine._start(argv, env=env)

    def _start(self, argv: list[str], env: dict[str, str]) -> ContainerEngine:
        (self.root / "cli-config").mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.root,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _ping(self.socket):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise EngineError(f"{self.kind} did not start (exit {self.process and self.process.returncode}):\n{tail}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own group (start_new_session): containerd, shims
            except ProcessLookupError:
                pass
            proc.wait(timeout=STOP_GRACE_S)
        self._unmount_leftovers()

    def _unmount_leftovers(self) -> None:
        """Unmount whatever the engine left mounted under its folder (deepest first)."""
        prefix = str(self.root.resolve()) + "/"
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
        for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def make_client_cert(ca_dir: Path, out: Path) -> None:
    """A client certificate signed by `make_tls_files`' CA, laid out as DOCKER_CERT_PATH wants it."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for argv in (
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "client.csr",
         "-subj", "/CN=client"],
        ["openssl", "x509", "-req", "-in", "client.csr", "-CA", str(ca_dir / "ca.pem"), "-CAkey",
         str(ca_dir / "ca.key"), "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "client.ext"],
    ):
        subprocess.run(argv, cwd=out, capture_output=True, check=True, timeout=60)
    shutil.copyfile(ca_dir / "ca.pem", out / "ca.pem")


def _sandbox_ulimits() -> list[str]:
    """podman's default ulimits, kept at or below this process's own (which runc may then set)."""
    out = []
    for name, limit in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, _ = resource.getrlimit(limit)
        value = 1024 if soft == resource.RLIM_INFINITY else min(1024, soft)
        out.append(f"{name}={value}:{value}")
    return out


def load_with_tool(
    engine: ContainerEngine,
    workdir: Path,
    layout: Path,
    repository: str,
    image: str,
    tags: Sequence[str] = ("latest",),
    **env: str,
) -> subprocess.CompletedProcess:
    """Load the image manifest `image` of the OCI layout `layout` as `repository` (and `tags`)
    with the tool's `push-plan` verb, as publish runs it; `env` overrides the engine's."""
    plan_dir = workdir / f"plan-{uuid.uuid4().hex[:8]}"
    plan_dir.mkdir(parents=True)
    entry = ImagePush(layout=str(layout), repository=repository, tags=tuple(tags), kind=DAEMON, image=image)
    (plan_dir / "plan.json").write_bytes(encode(PushPlan((entry,))))
    return subprocess.run(
        [sys.executable, "-m", "pants_backend_ko.tool", "push-plan", "--plan", str(plan_dir / "plan.json")],
        env=engine.env(PYTHONPATH=str(REPO_ROOT / "pants-plugins"), **env),
        capture_output=True,
        text=True,
        timeout=600,
    )
