"""Side-by-side benchmark of pants-backend-ko against ko on one generated monorepo (issue 6).

Run through `bench/run` (it installs ko, makes the plot venv and sets PYTHONPATH). Every
scenario runs for both tools against the same local docker-registry, several rounds; the
report (`docs/benchmarks.md`) gives medians and the ratio pants/ko, the floor (bare `go build`
+ raw upload) and whether each target of the issue is met.

Fairness rules (also written into the report):
- both tools build the same module, for the same platforms, on the same base image (a small
  two-platform index pushed to the local registry and named by tag, as ko users name
  `cgr.dev/chainguard/static`), and push to the same registry with default (md5) naming;
- both make and push SPDX SBOMs, as both do by default (ko `--sbom=spdx`, Pants `[ko].sbom`);
- ko runs, for warm scenarios, both with and without `KOCACHE`; the better ko figure is the
  one the ratio uses;
- "cold" means empty Go build and module caches for both (fresh `GOCACHE`/`GOMODCACHE`/`KOCACHE`
  for ko; fresh `--named-caches-dir` and `--local-store-dir` for Pants, which hold exactly those)
  and an empty registry repository; Pants runs with `--no-pantsd` there;
- warm scenarios keep each tool's caches between rounds and use pantsd (how users run Pants);
- the scale scenarios repeat no-op, edit-library and edit-one-binary publishes on a second,
  100-image repository (`--scale-binaries`), the size of the monorepos our users have.

Every Pants run is also profiled: Pants' own `workunit_logger` backend (enabled in the measured
repository) writes its workunits, and `bench/timeline.py` turns them into the run's critical
path (which processes, and how much of Pants' own time between them). And the resident memory
of Pants (pantsd, the client and every process they run, summed) is sampled during every Pants
run (`tests/peers/rss.py`); the report gives the peak per phase.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

from bench import timeline
from bench.monorepo import Monorepo, generate
from tests.peers.buildbarn import buildbarn_cluster
from tests.peers.pants_repo import REPO_ROOT
from tests.peers.registry import RegistryPeer, skopeo, write_test_layout
from tests.peers.rss import MB, TreeSampler

RUN_TIMEOUT_S = 1800  # one cold build of 9 images x 2 platforms takes a few minutes on 2 cores
WORKUNIT_LOG_DIR = ".pants.d/bench-workunits"
PLATFORM = "linux/amd64"
TWO_PLATFORMS = "linux/amd64,linux/arm64"


@dataclass
class Scenario:
    key: str
    title: str
    samples: Dict[str, List[float]] = field(default_factory=dict)  # tool -> seconds per round
    note: str = ""
    # Pants' critical path per round: [(kind, seconds), ...] (bench/timeline.py)
    paths: List[List[Tuple[str, float]]] = field(default_factory=list)

    def median(self, tool: str) -> Optional[float]:
        values = self.samples.get(tool)
        return statistics.median(values) if values else None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work).resolve()
        self.ko = args.ko
        self.scenarios: Dict[str, Scenario] = {}
        self.loads: List[float] = []
        if args.merge:
            # Scenarios measured by an earlier run (e.g. warm) are kept; this run adds the rest.
            earlier = json.loads(Path(args.merge).read_text())
            for key, s in earlier["scenarios"].items():
                self.scenarios[key] = Scenario(key, s["title"], s["samples"], s.get("note", ""), s.get("paths", []))
            self.peak_rss_mb = earlier.get("pants_peak_rss_mb", {})
            self.loads = earlier.get("_loads", [])
            self.commit_warm = earlier.get("backend_commit_warm") or earlier.get("backend_commit")
        self.log_lines: List[str] = []
        self.pantsd_roots: List[Path] = []  # repositories whose pantsd this benchmark started
        if not hasattr(self, "peak_rss_mb"):
            self.peak_rss_mb: Dict[str, int] = {}  # phase -> MB (Pants, pantsd and their processes)
        self.phase = ""
        self.started = time.monotonic()

    # ------------------------------------------------------------------ helpers

    def say(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=sys.stderr, flush=True)
        self.log_lines.append(line)

    def record(self, key: str, title: str, tool: str, seconds: float, path=None) -> None:
        scenario = self.scenarios.setdefault(key, Scenario(key, title))
        scenario.samples.setdefault(tool, []).append(seconds)
        if path is not None:
            scenario.paths.append(path)
        # The machine is shared: the 1-minute load average goes into the log beside each sample.
        where = f"; {timeline.describe(path)}" if path else ""
        self.say(f"{title} / {tool}: {seconds:.2f}s (load {os.getloadavg()[0]:.1f}){where}")
        self.loads.append(os.getloadavg()[0])
        # Partial results survive an interrupted run: the report can be made from them.
        Path(self.args.results).write_text(json.dumps(self.results(), indent=2))

    def timed(self, argv: List[str], *, cwd: Path, env: Dict[str, str], what: str) -> float:
        start = time.monotonic()
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        elapsed = time.monotonic() - start
        if result.returncode != 0:
            raise SystemExit(
                f"bench: {what} failed (exit {result.returncode}): {' '.join(argv)}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return elapsed

    def pants_pids(self, mono: Monorepo) -> List[int]:
        pids = []
        for pid_file in (mono.root / ".pids").glob("*/pantsd/pid"):
            try:
                pids.append(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids

    def timed_pants(self, argv: List[str], *, mono: Monorepo, env: Dict[str, str], what: str):
        """A Pants run: (seconds, critical path); its memory (with pantsd's) joins the phase's peak."""
        log_dir = mono.root / WORKUNIT_LOG_DIR
        for old in log_dir.glob("*.json"):
            old.unlink()
        start = time.monotonic()
        proc = subprocess.Popen(argv, cwd=mono.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with TreeSampler(lambda: [proc.pid, *self.pants_pids(mono)]) as sampler:
            try:
                stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            raise SystemExit(
                f"bench: {what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-6000:]}"
            )
        if self.phase:
            self.peak_rss_mb[self.phase] = max(self.peak_rss_mb.get(self.phase, 0), sampler.peak // MB)
        path = timeline.critical_path(timeline.read_run(log_dir))
        # The client's start and the run's set-up happen before the first workunit: Pants' too.
        outside = elapsed - sum(seconds for _, seconds in path)
        return elapsed, ([(timeline.PANTS, outside)] if outside > 0 else []) + path

    def base_env(self) -> Dict[str, str]:
        env = dict(os.environ)
        # PYTHONPATH: bench/run sets it for this script; Pants must load the scratch repo's plugin.
        for k in ("KO_DOCKER_REPO", "KOCACHE", "GOFLAGS", "KO_DEFAULTBASEIMAGE", "KO_DEFAULTPLATFORMS", "PYTHONPATH"):
            env.pop(k, None)
        return env

    # ------------------------------------------------------------------ tools

    def ko_env(self, repo: str, gocache: Path, gomodcache: Path, kocache: Optional[Path]) -> Dict[str, str]:
        env = self.base_env()
        env.update(
            KO_DOCKER_REPO=f"{self.registry.host}/{_slug(repo)}",
            KO_DEFAULTBASEIMAGE=self.base_ref,
            GOCACHE=str(gocache),
            GOMODCACHE=str(gomodcache),
            GOFLAGS="-mod=readonly",
        )
        if kocache is not None:
            env["KOCACHE"] = str(kocache)
        return env

    def ko_build_argv(self, platforms: str, mono: Optional[Monorepo] = None) -> List[str]:
        return [self.ko, "build", f"--platform={platforms}", "--insecure-registry",
                *(mono or self.mono).package_dirs]

    def pants_argv(self, *args: str, pantsd: bool, caches: Path, platforms: str,
                   mono: Optional[Monorepo] = None) -> List[str]:
        return [
            str((mono or self.mono).root / "pants"),
            "--pantsd" if pantsd else "--no-pantsd",
            "--no-dynamic-ui",
            f"--named-caches-dir={caches / 'named'}",
            f"--local-store-dir={caches / 'store'}",
            f"--ko-default-base-image={self.base_ref}",
            f"--ko-default-platforms={json.dumps(platforms.split(','))}",
            *args,
        ]

    def pants_env(self, repo: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = self.base_env()
        env["KO_DOCKER_REPO"] = f"{self.registry.host}/{_slug(repo)}"
        env.update(extra or {})
        return env

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.say(f"generating the monorepo ({self.args.binaries} small binaries + 1 big) in {self.work / 'repo'}")
        self.mono: Monorepo = self.make_repo(self.work / "repo", self.args.binaries)
        self.commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True, check=True, timeout=60).stdout.strip()
        self.say(f"backend: pants-plugins at commit {self.commit}")
        self.registry = RegistryPeer(str(self.work / "registry"), "plain").start()
        # A small two-platform base index, named by tag as ko users name their base.
        layout = write_test_layout(str(self.work / "base-layout"), seed=1, ref_name="latest")
        self.base_ref = f"{self.registry.host}/base:latest"
        skopeo("copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
               f"oci:{layout.path}:latest", f"docker://{self.base_ref}")
        self.say(f"registry {self.registry.host}, base {self.base_ref}")
        # Module download for the floor's go build and for measuring the big binary.
        self.floor_gocache = self.work / "floor-gocache"
        self.shared_modcache = self.work / "floor-gomodcache"
        env = self.floor_go_env()
        out = self.work / "big.bin"
        subprocess.run(["go", "build", "-trimpath", "-o", str(out), "./cmd/big"], cwd=self.mono.module_dir,
                       env=env, check=True, timeout=RUN_TIMEOUT_S, capture_output=True)
        self.big_binary_mb = out.stat().st_size / 1e6
        self.say(f"the big binary is {self.big_binary_mb:.1f} MB")
        self.versions = versions(self.ko, self.mono.root)

    def make_repo(self, dest: Path, binaries: int) -> Monorepo:
        mono = generate(dest, binaries)
        # Measure the committed backend, not a working tree other people may be editing.
        shutil.rmtree(mono.root / "pants-plugins")
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "HEAD", "pants-plugins"],
                                 capture_output=True, check=True, timeout=120).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(mono.root)
        # Pants' own workunit logger: each run's workunits, for its critical path (bench/timeline.py).
        toml = (mono.root / "pants.toml").read_text()
        marker = 'backend_packages = ["pants_backend_ko"]'
        if marker not in toml:
            raise SystemExit("bench: the generated pants.toml has no single-backend list; update bench/bench.py")
        toml = toml.replace(marker, 'backend_packages = ["pants_backend_ko", "pants.backend.experimental.tools.workunit_logger"]')
        toml += f'\n[workunit-logger]\nenabled = true\nlogdir = "{mono.root / WORKUNIT_LOG_DIR}"\n'
        (mono.root / "pants.toml").write_text(toml)
        (mono.root / WORKUNIT_LOG_DIR).mkdir(parents=True)
        return mono

    def floor_go_env(self) -> Dict[str, str]:
        env = self.base_env()
        env.update(GOCACHE=str(self.floor_gocache), GOMODCACHE=str(self.shared_modcache), GOFLAGS="-mod=readonly",
                   CGO_ENABLED="0", GOOS="linux", GOARCH="amd64")
        return env

    # ------------------------------------------------------------------ scenarios

    def cold(self, platforms: str, label: str) -> None:
        key, title = f"cold-{label}", f"cold build+publish, {label}"
        self.phase = "cold"
        for r in range(self.args.cold_rounds):
            d = self.work / f"cold-{label}-{r}"
            t = self.timed(self.ko_build_argv(platforms), cwd=self.mono.module_dir,
                           env=self.ko_env(f"cold-ko-{label}-{r}", d / "ko-gocache", d / "ko-gomod", d / "kocache"),
                           what="ko build (cold)")
            self.record(key, title, "ko", t)
            t, path = self.timed_pants(
                self.pants_argv("publish", "src/go::", pantsd=False, caches=d / "pants", platforms=platforms),
                mono=self.mono, env=self.pants_env(f"cold-pants-{label}-{r}"), what="pants publish (cold)")
            self.record(key, title, "pants", t, path)
            shutil.rmtree(d, ignore_errors=True)

    def ko_variants(self, warm: Path) -> Dict[str, dict]:
        return {
            "ko": dict(gocache=warm / "ko-gocache", gomodcache=warm / "ko-gomod", kocache=None),
            "ko+KOCACHE": dict(gocache=warm / "kok-gocache", gomodcache=warm / "kok-gomod", kocache=warm / "kocache"),
        }

    def publish_scenarios(self, mono: Monorepo, warm: Path, prefix: str, title_suffix: str, rounds: int) -> Dict[str, dict]:
        """No-op, edit library, edit one binary (publish), each tool with its own warm caches, one platform."""
        ko_variants = self.ko_variants(warm)
        pants_caches = warm / "pants"
        repo_name = f"{prefix}warm"

        def pants(*a):
            return self.pants_argv(*a, pantsd=True, caches=pants_caches, platforms=PLATFORM, mono=mono)

        self.pantsd_roots.append(mono.root)

        def run(tool: str, what: str, key: Optional[str] = None, title: str = "") -> None:
            if tool == "pants":
                t, path = self.timed_pants(pants("publish", "src/go::"), mono=mono,
                                           env=self.pants_env(f"{repo_name}-pants"), what=f"pants publish ({what})")
            else:
                t, path = self.timed(self.ko_build_argv(PLATFORM, mono), cwd=mono.module_dir,
                                     env=self.ko_env(f"{repo_name}-{tool}", **ko_variants[tool]),
                                     what=f"ko build ({what})"), None
            if key:
                self.record(key, title, tool, t, path)

        # Warm-up: one publish each, untimed, so every cache and pantsd are hot.
        self.say(f"warming up both tools{title_suffix}")
        for tool in ("pants", *ko_variants):
            run(tool, "warm-up")

        def round_of(key: str, title: str, edit) -> None:
            for r in range(rounds):
                for tool in ("pants", *ko_variants):
                    if edit:
                        edit(f"{key}-{tool}-{r}-{time.time_ns()}")
                    run(tool, title, prefix + key, title + title_suffix)

        round_of("noop", "no-op publish", None)
        round_of("edit-lib", "edit shared library, publish", mono.edit_library)
        # After the library rounds each tool last built a library that two other tools have
        # since changed again: bring every tool up to date (untimed), so that the next
        # scenario's edit is the only change each tool sees.
        self.say("syncing every tool to the current sources")
        for tool in ("pants", *ko_variants):
            run(tool, "sync")
        round_of("edit-bin", "edit one binary, publish", mono.edit_binary)
        return dict(pants=pants, ko_variants=ko_variants)

    def warm(self) -> None:
        """The edit loops on the N-image repository, then rendering and applying manifests."""
        self.phase = "warm"
        tools = self.publish_scenarios(self.mono, self.work / "warm", "", "", self.args.rounds)
        pants, ko_variants = tools["pants"], tools["ko_variants"]
        # ko resolve vs pants package of the manifests, after editing one binary.
        out = self.work / "resolved.yaml"
        for r in range(self.args.rounds):
            for tool in ("pants", *ko_variants):
                self.mono.edit_binary(f"resolve-{tool}-{r}-{time.time_ns()}")
                path = None
                if tool == "pants":
                    t, path = self.timed_pants(pants("package", "src/config:apply"), mono=self.mono,
                                               env=self.pants_env("warm-pants"), what="pants package (manifests)")
                else:
                    argv = [self.ko, "resolve", f"--platform={PLATFORM}", "--insecure-registry",
                            "-f", str(self.mono.manifests)]
                    env = self.ko_env(f"warm-{tool}", **ko_variants[tool])
                    start = time.monotonic()
                    with open(out, "w") as f:
                        res = subprocess.run(argv, cwd=self.mono.module_dir, env=env, stdout=f, stderr=subprocess.PIPE,
                                             text=True, timeout=RUN_TIMEOUT_S)
                    t = time.monotonic() - start
                    if res.returncode != 0:
                        raise SystemExit(f"bench: ko resolve failed: {res.stderr[-4000:]}")
                self.record("resolve", "edit one binary, render manifests (ko resolve / pants package)", tool, t, path)

        self.apply(pants, ko_variants)
        self.floor(self.mono, "")

    def scale(self) -> None:
        """The publish loops again on a repository of `--scale-binaries` images, and Pants' memory there."""
        self.stop_pantsd()  # the N-image repository's pantsd: the scale phase measures its own
        self.phase = "scale"
        n = self.args.scale_binaries
        self.say(f"generating the scale monorepo ({n} small binaries + 1 big) in {self.work / 'scale-repo'}")
        mono = self.make_repo(self.work / "scale-repo", n)
        self.scale_images = n + 1
        self.publish_scenarios(mono, self.work / "scale", "scale-", f" ({n + 1} images)", self.args.scale_rounds)
        self.floor(mono, "scale-")
        self.stop_pantsd()

    def apply(self, pants, ko_variants) -> None:
        try:
            from tests.peers.kube import kube_cluster
        except Exception as e:  # noqa: BLE001 - reported, the scenario is then left out
            self.scenarios["apply"] = Scenario("apply", "apply", note=f"not measured: tests/peers/kube.py unusable ({e})")
            return
        title = "edit one binary, render+apply (ko apply / pants run)"
        try:
            with kube_cluster(self.work / "kube") as cluster:
                for r in range(self.args.rounds):
                    for tool in ("pants", *ko_variants):
                        self.mono.edit_binary(f"apply-{tool}-{r}-{time.time_ns()}")
                        path = None
                        if tool == "pants":
                            t, path = self.timed_pants(
                                pants("run", "src/config:apply"), mono=self.mono,
                                env=self.pants_env("warm-pants", {"KUBECONFIG": str(cluster.kubeconfig)}),
                                what="pants run (apply)")
                        else:
                            env = self.ko_env(f"warm-{tool}", **ko_variants[tool])
                            env["KUBECONFIG"] = str(cluster.kubeconfig)
                            t = self.timed([self.ko, "apply", f"--platform={PLATFORM}", "--insecure-registry",
                                            "-f", str(self.mono.manifests)], cwd=self.mono.module_dir, env=env,
                                           what="ko apply")
                        self.record("apply", title, tool, t, path)
        except Exception as e:  # noqa: BLE001
            if "apply" not in self.scenarios:
                self.scenarios["apply"] = Scenario("apply", title, note=f"not measured: {e}")
            else:
                raise

    def floor(self, mono: Monorepo, prefix: str) -> None:
        """Bare `go build` of the edited binary with a warm GOCACHE + raw upload of its new blobs."""
        env = self.floor_go_env()
        out = self.work / "floor-app0"
        # Warm the floor's GOCACHE for the current sources first (untimed).
        subprocess.run(["go", "build", "-trimpath", "-o", str(out), "./cmd/app0"], cwd=mono.module_dir,
                       env=env, check=True, timeout=RUN_TIMEOUT_S, capture_output=True)
        rounds = self.args.scale_rounds if prefix else self.args.rounds
        for r in range(rounds):
            mono.edit_binary(f"floor-{r}-{time.time_ns()}")
            t_build = self.timed(["go", "build", "-trimpath", "-o", str(out), "./cmd/app0"],
                                 cwd=mono.module_dir, env=env, what="floor go build")
            layer = _gzip_tar({"ko-app/app0": out.read_bytes()})  # untimed: not part of the floor
            config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                                 "stamp": r}).encode()
            t_upload = self.raw_upload(f"{prefix}floor-{r}", layer, config)
            self.record(f"{prefix}floor-build", "floor: bare go build of the edited binary", "floor", t_build)
            self.record(f"{prefix}floor-upload", "floor: raw upload of its layer+config+manifest", "floor", t_upload)
            self.record(f"{prefix}floor", "floor: go build + raw upload", "floor", t_build + t_upload)

    def raw_upload(self, repo: str, layer: bytes, config: bytes) -> float:
        base = f"http://{self.registry.host}/v2/{repo}"
        start = time.monotonic()
        with requests.Session() as s:
            descs = []
            for blob, media in ((layer, "application/vnd.oci.image.layer.v1.tar+gzip"),
                                (config, "application/vnd.oci.image.config.v1+json")):
                digest = "sha256:" + hashlib.sha256(blob).hexdigest()
                loc = s.post(f"{base}/blobs/uploads/", timeout=60).headers["Location"]
                if loc.startswith("/"):
                    loc = f"http://{self.registry.host}{loc}"
                sep = "&" if "?" in loc else "?"
                s.put(f"{loc}{sep}digest={digest}", data=blob, timeout=120,
                      headers={"Content-Type": "application/octet-stream"}).raise_for_status()
                descs.append({"mediaType": media, "digest": digest, "size": len(blob)})
            manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                   "config": descs[1], "layers": [descs[0]]}).encode()
            s.put(f"{base}/manifests/latest", data=manifest, timeout=60,
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()
        return time.monotonic() - start

    def remote(self) -> None:
        """Cold build+publish of the monorepo (one platform) with every `go` Process here, then on a
        loopback Buildbarn (BENCH_REMOTE=1). Both with the pinned toolchain (`[ko].go_version`, the
        host's release) and modules from a file:// GOPROXY, so neither times the network; each
        remote round gets a fresh cluster (empty CAS, action cache, worker caches) besides fresh
        local caches. On one machine this measures the overhead of remote execution (uploading
        inputs, the worker materializing them, downloading outputs), not a speed-up."""
        key = "remote-cold"
        title = "cold build+publish, 1 platform: here vs loopback Buildbarn"
        fetched = subprocess.run([str(REPO_ROOT / "tests/peers/fetch_go_toolchain.sh")], capture_output=True,
                                 text=True, check=True, timeout=RUN_TIMEOUT_S)
        goproxy = fetched.stdout.strip().splitlines()[-1]
        release = _cmd(["go", "env", "GOVERSION"]).removeprefix("go")
        pants_platform = {"x86_64": "linux_x86_64", "aarch64": "linux_arm64"}[platform.machine()]
        with open(self.mono.root / "BUILD", "a") as f:
            f.write('local_environment(name="local")\n'
                    f'remote_environment(name="remote", platform="{pants_platform}", '
                    'extra_platform_properties=["OSFamily=linux"], fallback_environment="local")\n')
        with open(self.mono.root / "pants.toml", "a") as f:
            f.write('\n[environments-preview.names]\nlocal = "//:local"\nremote = "//:remote"\n')
        pinned = (f"--ko-go-version={release}",)
        env = {"GOPROXY": goproxy}
        for r in range(self.args.cold_rounds):
            d = self.work / f"remote-{r}"
            t = self.timed(self.pants_argv(*pinned, "publish", "src/go::", pantsd=False, caches=d / "here", platforms=PLATFORM),
                           cwd=self.mono.root, env=self.pants_env(f"remote-here-{r}", env), what="pants publish (cold, here)")
            self.record(key, title, "pants", t)
            cluster = buildbarn_cluster(d / "buildbarn")
            bb = next(cluster)
            try:
                t = self.timed(
                    self.pants_argv(*bb.pants_options(), "--remote-execution", "--ko-build-environment=remote", *pinned,
                                    "publish", "src/go::", pantsd=False, caches=d / "there", platforms=PLATFORM),
                    cwd=self.mono.root, env=self.pants_env(f"remote-there-{r}", env), what="pants publish (cold, Buildbarn)")
                executed = bb.executions()
            finally:
                cluster.close()
            self.record(key, title, "pants-remote", t)
            self.say(f"the worker ran {executed:.0f} actions")
            shutil.rmtree(d, ignore_errors=True)

    def stop(self) -> None:
        self.stop_pantsd()
        if getattr(self, "registry", None) is not None:
            self.registry.stop()

    def stop_pantsd(self) -> None:
        # Only the pantsd processes this benchmark started, by their pid files (`.pids/`).
        for root in self.pantsd_roots:
            for pid_file in root.glob(".pids/*/pantsd/pid"):
                try:
                    pid = int(pid_file.read_text().strip())
                    os.kill(pid, 15)
                except (ValueError, OSError):
                    continue
                for _ in range(100):  # wait for it to go (its memory must not count in the next phase)
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        self.pantsd_roots = []

    # ------------------------------------------------------------------ results

    def results(self) -> dict:
        return {
            "machine": machine_info(),
            "versions": self.versions,
            "load_average_during_samples": {
                "min": min(self.loads, default=0.0), "median": statistics.median(self.loads) if self.loads else 0.0,
                "max": max(self.loads, default=0.0)},
            "backend_commit": self.commit,
            "backend_commit_warm": getattr(self, "commit_warm", None) or self.commit,
            "binaries": self.args.binaries,
            "scale_images": getattr(self, "scale_images", None),
            "elapsed_minutes": (time.monotonic() - self.started) / 60,
            "scale_rounds": self.args.scale_rounds,
            "pants_peak_rss_mb": self.peak_rss_mb,
            "big_binary_mb": round(self.big_binary_mb, 1),
            "rounds": self.args.rounds,
            "cold_rounds": self.args.cold_rounds,
            "scenarios": {k: {"title": s.title, "samples": s.samples, "note": s.note, "paths": s.paths}
                          for k, s in self.scenarios.items()},
            "log": self.log_lines,
            "_loads": self.loads,
        }


def _slug(name: str) -> str:
    """A registry repository name from a label such as `warm-ko+KOCACHE`."""
    return "".join(c if c.isalnum() or c in "-._/" else "-" for c in name.lower())


def _gzip_tar(files: Dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o555
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), compresslevel=1, mtime=0)


def _cmd(argv: List[str], cwd: Optional[Path] = None) -> str:
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
        # Some tools (the Pants launcher, docker-registry) print their version on stderr.
        return (result.stdout.strip() or result.stderr.strip()).splitlines()[-1:][0] if (result.stdout.strip() or result.stderr.strip()) else ""
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"


def machine_info() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return {"nproc": _cmd(["nproc"]), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "kernel": platform.release(), "os": _cmd(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"])}


def versions(ko: str, pants_root: Path) -> dict:
    return {
        "go": _cmd(["go", "version"]),
        "ko": _cmd([ko, "version"]),
        "pants": _cmd([str(pants_root / "pants"), "--no-pantsd", "--version"], cwd=pants_root),
        "python": sys.version.split()[0],
        "docker-registry": _cmd(["sh", "-c", "docker-registry --version 2>&1 || true"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ko", required=True, help="path of the ko binary")
    parser.add_argument("--work", required=True, help="scratch folder (wiped first)")
    parser.add_argument("--binaries", type=int, default=8, help="N small images (plus one big)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each warm scenario")
    parser.add_argument("--cold-rounds", type=int, default=3, help="rounds of each cold scenario")
    parser.add_argument("--results", required=True, help="where to write the JSON results")
    parser.add_argument("--skip-cold", action="store_true", help="warm scenarios only (for quick iterations)")
    parser.add_argument("--skip-warm", action="store_true", help="cold scenarios only")
    parser.add_argument("--merge", help="results JSON of an earlier run whose scenarios this run adds to")
    parser.add_argument("--remote", action="store_true",
                        help="also the cold build here vs on a loopback Buildbarn (builds Buildbarn once)")
    parser.add_argument("--scale-binaries", type=int, default=100, help="small images of the scale repository")
    parser.add_argument("--scale-rounds", type=int, default=2, help="rounds of each scale scenario")
    parser.add_argument("--skip-scale", action="store_true", help="leave the scale scenarios out")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        bench.setup()
        if not args.skip_warm:
            bench.warm()  # first: the edit-loop targets matter most if a run is cut short
            bench.stop_pantsd()
        if not args.skip_scale:
            bench.scale()
        if not args.skip_cold:
            bench.cold(TWO_PLATFORMS, "2 platforms")
            bench.cold(PLATFORM, "1 platform")
        if args.remote:
            bench.remote()  # last: it adds environments to the monorepo's BUILD and pants.toml
    finally:
        bench.stop()
    Path(args.results).write_text(json.dumps(bench.results(), indent=2))
    bench.say(f"results in {args.results}")


if __name__ == "__main__":
    main()
