"""A real Buildbarn remote execution cluster on loopback: bb_storage (CAS and action cache in
memory, and the frontend Pants talks to), bb_scheduler, one bb_worker with one bb_runner that runs
commands on this host in the worker's own build directory (no containers, no FUSE).

The binaries are built once by `tests/peers/build_buildbarn.sh` (a version that still honours
REv2.0 `output_files`, which Pants 2.17 relies on); configs are written here (Jsonnet, read by the
binaries directly), with free ports, in a temporary folder. Only what a test needs is configured;
every choice that matters is commented where it is made:

* the worker serves REv2.0 outputs (`supportLegacyOutputFilesAndDirectories`);
* its runner has a PATH (Pants runs `env -0` remotely with a bare argv[0] and no PATH);
* the scheduler routes on the Command's platform properties too (`actionAndCommand`): Pants 2.17
  puts a `remote_environment`'s `extra_platform_properties` only there; the worker offers
  `OSFamily=linux`, so an action asking for another platform fails instead of running here;
* `append_only_caches_base` is the folder to give Pants as
  `remote_execution_append_only_caches_base_path` (named caches on the worker).

`Buildbarn.executed_actions()` reads the action digests the worker ran from its log (one
`Action: .../action/<hash>-<size>/` line each); `executions()` counts them from its Prometheus metrics.
Processes are stopped by their own ids (SIGTERM, then SIGKILL after a grace period: bb_worker's
graceful shutdown can hang once the scheduler is gone).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

BUILD_SCRIPT = Path(__file__).resolve().parent / "build_buildbarn.sh"
BUILD_TIMEOUT_S = 1800  # cold: ~4 min on 2 cores
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
INSTANCE_NAME = "pants-backend-ko"
WORKER_HOSTNAME = "loopback-worker"
WORKER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PLATFORM_PROPERTIES = (("OSFamily", "linux"),)


def build_binaries() -> Path:
    built = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert built.returncode == 0, f"build_buildbarn.sh failed:\n{built.stderr[-4000:]}"
    return Path(built.stdout.strip().splitlines()[-1])


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now (all bound at once, so none is handed out twice)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class PortTaken(AssertionError):
    """Another process took a port between choosing it and a Buildbarn process binding it."""


def _jsonnet(value) -> str:
    # JSON is Jsonnet.
    return json.dumps(value, indent=2)


@dataclass
class Buildbarn:
    root: Path
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The frontend, as Pants' `remote_execution_address`/`remote_store_address` want it."""
        return f"grpc://127.0.0.1:{self.ports['frontend']}"

    @property
    def append_only_caches_base(self) -> Path:
        return self.root / "worker" / "named-caches"

    def log(self, name: str) -> str:
        return (self.root / "logs" / f"{name}.log").read_text(errors="replace")

    def executed_actions(self) -> list[str]:
        """`<hash>-<size>` of every action the worker started, in order."""
        return re.findall(r"Action: \S+/blobs/sha256/action/([0-9a-f]{64}-\d+)/ ", self.log("worker"))

    def executions(self) -> float:
        """How many actions the worker ran, by its metrics (the Running stage of its executor)."""
        url = f"http://127.0.0.1:{self.ports['worker_diagnostics']}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        pattern = r'^buildbarn_builder_build_executor_duration_seconds_count\{[^}]*stage="Running"[^}]*\} (\S+)$'
        return sum(float(m) for m in re.findall(pattern, text, re.MULTILINE))

    def pants_options(self) -> list[str]:
        """Global Pants options pointing at this cluster (the README's settings, on the command line)."""
        return [
            f"--remote-execution-address={self.address}",
            f"--remote-store-address={self.address}",
            f"--remote-instance-name={INSTANCE_NAME}",
            f"--remote-execution-append-only-caches-base-path={self.append_only_caches_base}",
            "--process-execution-remote-parallelism=4",
        ]

    # -----------------------------------------------------------------------------------------

    def write_configs(self) -> None:
        p = self.ports
        allow = {"allow": {}}
        worker_dir = self.root / "worker"
        for d in ("logs", "worker/build", "worker/cache", "worker/named-caches"):
            (self.root / d).mkdir(parents=True, exist_ok=True)

        def diagnostics(port: int) -> dict:
            return {
                "diagnosticsHttpServer": {
                    "httpServers": [{"listenAddresses": [f"127.0.0.1:{port}"], "authenticationPolicy": allow}],
                    "enablePrometheus": True,
                }
            }

        def local_store(block_size: int, new_blocks: int) -> dict:
            return {
                "local": {
                    "keyLocationMapInMemory": {"entries": 1024 * 1024},
                    "keyLocationMapMaximumGetAttempts": 16,
                    "keyLocationMapMaximumPutAttempts": 64,
                    "oldBlocks": 8,
                    "currentBlocks": 24,
                    # The action cache's local backend refuses anything but 1 new block.
                    "newBlocks": new_blocks,
                    "blocksInMemory": {"blockSizeBytes": block_size},
                }
            }

        cas_client = {"grpc": {"client": {"address": f"127.0.0.1:{p['frontend']}"}}}
        browser = f"http://127.0.0.1:{p['browser']}"  # only names actions in logs; nothing listens
        message_size = 16 * 1024 * 1024
        configs = {
            # Storage and frontend in one: Pants talks to this port only; Execute calls for every
            # instance name ('' prefix) go to the scheduler.
            "storage": {
                "grpcServers": [{"listenAddresses": [f"127.0.0.1:{p['frontend']}"], "authenticationPolicy": allow}],
                "maximumMessageSizeBytes": message_size,
                "global": diagnostics(p["storage_diagnostics"]),
                "contentAddressableStorage": {
                    "backend": local_store(64 * 1024 * 1024, 3),
                    "getAuthorizer": allow,
                    "putAuthorizer": allow,
                    "findMissingAuthorizer": allow,
                },
                "actionCache": {
                    "backend": local_store(4 * 1024 * 1024, 1),
                    "getAuthorizer": allow,
                    "putAuthorizer": allow,
                },
                "schedulers": {"": {"endpoint": {"address": f"127.0.0.1:{p['scheduler_clients']}"}}},
                "executeAuthorizer": allow,
            },
            "scheduler": {
                "adminHttpServers": [
                    {"listenAddresses": [f"127.0.0.1:{p['scheduler_admin']}"], "authenticationPolicy": allow}
                ],
                "clientGrpcServers": [
                    {"listenAddresses": [f"127.0.0.1:{p['scheduler_clients']}"], "authenticationPolicy": allow}
                ],
                "workerGrpcServers": [
                    {"listenAddresses": [f"127.0.0.1:{p['scheduler_workers']}"], "authenticationPolicy": allow}
                ],
                "browserUrl": browser,
                "contentAddressableStorage": cas_client,
                "maximumMessageSizeBytes": message_size,
                "global": diagnostics(p["scheduler_diagnostics"]),
                "executeAuthorizer": allow,
                "modifyDrainsAuthorizer": allow,
                "killOperationsAuthorizer": allow,
                "synchronizeAuthorizer": allow,
                "actionRouter": {
                    "simple": {
                        # Pants 2.17 sends platform properties in the Command only.
                        "platformKeyExtractor": {"actionAndCommand": {}},
                        "invocationKeyExtractors": [{"correlatedInvocationsId": {}}, {"toolInvocationId": {}}],
                        "initialSizeClassAnalyzer": {
                            "defaultExecutionTimeout": "1800s",
                            "maximumExecutionTimeout": "7200s",
                        },
                    }
                },
                # Fail in a minute, not 15, when no worker offers an action's platform.
                "platformQueueWithNoWorkersTimeout": "60s",
            },
            "runner": {
                "buildDirectoryPath": str(worker_dir / "build"),
                "global": diagnostics(p["runner_diagnostics"]),
                "grpcServers": [{"listenPaths": [str(worker_dir / "runner.sock")], "authenticationPolicy": allow}],
            },
            "worker": {
                "blobstore": {"contentAddressableStorage": cas_client, "actionCache": cas_client},
                "browserUrl": browser,
                "maximumMessageSizeBytes": message_size,
                "scheduler": {"address": f"127.0.0.1:{p['scheduler_workers']}"},
                "global": diagnostics(p["worker_diagnostics"]),
                "buildDirectories": [
                    {
                        "native": {
                            "buildDirectoryPath": str(worker_dir / "build"),
                            "cacheDirectoryPath": str(worker_dir / "cache"),
                            "maximumCacheFileCount": 100000,
                            "maximumCacheSizeBytes": 2 * 1024 * 1024 * 1024,
                            "cacheReplacementPolicy": "LEAST_RECENTLY_USED",
                        },
                        "runners": [
                            {
                                "endpoint": {"address": f"unix://{worker_dir / 'runner.sock'}"},
                                "concurrency": 2,
                                "maximumFilePoolFileCount": 100000,
                                "maximumFilePoolSizeBytes": 1024 * 1024 * 1024,
                                "platform": {
                                    "properties": [{"name": k, "value": v} for k, v in PLATFORM_PROPERTIES]
                                },
                                "workerId": {"hostname": WORKER_HOSTNAME},
                                # bb_runner resolves a bare argv[0] (Pants' `env -0`) only through
                                # the action's PATH; actions' own variables override this.
                                "environmentVariables": {"PATH": WORKER_PATH},
                            }
                        ],
                    }
                ],
                "filePool": {"blockDevice": {"file": {"path": str(worker_dir / "filepool"), "sizeBytes": 1024**3}}},
                "inputDownloadConcurrency": 10,
                # Pants 2.17 declares outputs with REv2.0's output_files/output_directories only.
                "supportLegacyOutputFilesAndDirectories": True,
                "outputUploadConcurrency": 11,
                "directoryCache": {
                    "maximumCount": 10000,
                    "maximumSizeBytes": 64 * 1024 * 1024,
                    "cacheReplacementPolicy": "LEAST_RECENTLY_USED",
                },
            },
        }
        for name, config in configs.items():
            (self.root / f"{name}.jsonnet").write_text(_jsonnet(config))

    def start(self, binaries: Path) -> None:
        ready = {
            "storage": lambda: _listening(self.ports["frontend"]),
            "scheduler": lambda: _listening(self.ports["scheduler_workers"]),
            "runner": lambda: (self.root / "worker" / "runner.sock").exists(),
            "worker": self._worker_registered,
        }
        for name in ("storage", "scheduler", "runner", "worker"):
            with open(self.root / "logs" / f"{name}.log", "wb") as log:
                self.processes[name] = subprocess.Popen(
                    [str(binaries / f"bb_{name}"), str(self.root / f"{name}.jsonnet")],
                    cwd=self.root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not ready[name]():
                process = self.processes[name]
                if process.poll() is not None:
                    error = PortTaken if "address already in use" in self.log(name) else AssertionError
                    raise error(f"bb_{name} exited {process.returncode}:\n{self.log(name)[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"bb_{name} not ready within {READY_TIMEOUT_S}s:\n{self.log(name)[-3000:]}")
                time.sleep(0.2)

    def _worker_registered(self) -> bool:
        """The scheduler's admin page lists a platform queue once the worker has synchronized."""
        try:
            page = urllib.request.urlopen(f"http://127.0.0.1:{self.ports['scheduler_admin']}/", timeout=5).read()
        except OSError:
            return False
        return b"OSFamily" in page

    def stop(self) -> None:
        for name in ("worker", "runner", "scheduler", "storage"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_GRACE_S)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


PORTS = (
    "frontend",
    "browser",
    "storage_diagnostics",
    "scheduler_clients",
    "scheduler_workers",
    "scheduler_admin",
    "scheduler_diagnostics",
    "runner_diagnostics",
    "worker_diagnostics",
)
START_ATTEMPTS = 5  # other test sessions on the machine pick free ports too


def buildbarn_cluster(root: Path) -> Iterator[Buildbarn]:
    """Build (once), configure, start; yield; stop. For a session-scoped fixture."""
    binaries = build_binaries()
    for attempt in range(1, START_ATTEMPTS + 1):
        cluster = Buildbarn(root / f"cluster-{attempt}", dict(zip(PORTS, _free_ports(len(PORTS)))))
        cluster.write_configs()
        try:
            cluster.start(binaries)
            break
        except PortTaken:
            cluster.stop()
            if attempt == START_ATTEMPTS:
                raise
        except BaseException:
            cluster.stop()
            raise
    try:
        yield cluster
    finally:
        cluster.stop()
