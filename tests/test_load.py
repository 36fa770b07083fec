"""Load (issue 7, part 4): many images published concurrently to the real registry.

* 50 small generated OCI layouts pushed by one process through the push API on a thread pool
  (one shared :class:`RegistryClient`), every digest then checked with ``skopeo inspect``.
* One ``./pants publish`` of a repository with 12 small ``ko_image`` targets, every digest
  checked with ``skopeo inspect``.

The peak resident memory of the publishing process (``VmHWM``) is measured and printed (run
with ``-s`` to see it; docs/reliability.md records a run). Memory is checked only loosely (it
must not grow with the number of images); time is not asserted.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.peers.pants_repo import make_scratch_repo
from tests.peers.registry import skopeo, write_test_layout

pytestmark = pytest.mark.peers

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES = 50
PANTS_IMAGES = 12
REFERENCE = re.compile(r"^(\S+)@(sha256:[0-9a-f]{64})$", re.MULTILINE)

# Runs in its own process so that its peak memory is that of a publisher, not of pytest.
PUSHER = r"""
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pants_backend_ko.oci.remote.push import push_layout
from pants_backend_ko.oci.remote.transport import RegistryClient

registry, prefix, layouts_file = sys.argv[1:4]
layouts = json.load(open(layouts_file))

def memory_kb():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) for k in ("VmHWM", "VmRSS")}

samples, digests = [{"pushed": 0, **memory_kb()}], {}
start = time.monotonic()
with RegistryClient(registry, pool_size=16) as client:
    def push(item):
        name, path = item
        return name, push_layout(path, f"{prefix}/{name}", ["v1"], client=client, jobs=2).digest
    for batch in (layouts[:10], layouts[10:]):
        with ThreadPoolExecutor(max_workers=16) as pool:
            digests.update(pool.map(push, batch))
        samples.append({"pushed": len(digests), **memory_kb()})
print(json.dumps({
    "digests": digests, "samples": samples, "seconds": round(time.monotonic() - start, 2),
    "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def skopeo_digests(references: list[str]) -> dict[str, str]:
    """sha256 of the manifest bytes skopeo reads for each reference (4 at a time)."""
    def inspect(ref: str) -> tuple[str, str]:
        raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}")
        return ref, "sha256:" + hashlib.sha256(raw).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(inspect, references))


def test_fifty_images_pushed_concurrently_all_verified_by_skopeo(registry_plain, tmp_path, unique_repo):
    layouts = {}
    for i in range(IMAGES):
        layout = write_test_layout(str(tmp_path / f"layout-{i:02d}"), single=True, layer_size=256, seed=i * 7919 + 1)
        layouts[f"img-{i:02d}"] = layout
    assert len({layout.root_digest for layout in layouts.values()}) == IMAGES  # all distinct
    layouts_file = tmp_path / "layouts.json"
    layouts_file.write_text(json.dumps([[name, layout.path] for name, layout in layouts.items()]))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT / "pants-plugins")}
    proc = subprocess.run(
        [sys.executable, "-c", PUSHER, registry_plain.host, unique_repo, str(layouts_file)],
        capture_output=True, env=env, timeout=240, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["digests"] == {name: layout.root_digest for name, layout in layouts.items()}

    verified = skopeo_digests([f"{registry_plain.host}/{unique_repo}/{name}:v1" for name in layouts])
    assert verified == {f"{registry_plain.host}/{unique_repo}/{name}:v1": layout.root_digest for name, layout in layouts.items()}

    first, last = report["samples"][1], report["samples"][2]
    print(f"\nLOAD push API: {IMAGES} images in {report['seconds']} s; VmHWM after 10: {first['VmHWM']} kB, "
          f"after {IMAGES}: {last['VmHWM']} kB; VmRSS at the end {last['VmRSS']} kB; ru_maxrss {report['ru_maxrss_kb']} kB")
    # Flat: pushing 40 more images adds no more than a few MB of peak memory.
    assert last["VmHWM"] - first["VmHWM"] < 32 * 1024, report["samples"]


def load_sources(count: int) -> dict[str, str]:
    files = {}
    for i in range(count):
        files[f"src/go/cmd/load{i:02d}/main.go"] = (
            "package main\n\nimport \"fmt\"\n\n"
            f"func main() {{ fmt.Println(\"load image {i:02d}\") }}\n"
        )
        files[f"src/go/cmd/load{i:02d}/BUILD"] = f'ko_image(name="load{i:02d}")\n'
    return files


def memory_of(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
    except (OSError, ValueError):
        return {}
    return {k: int(fields[k].split()[0]) for k in ("VmHWM", "VmRSS") if k in fields}


def test_pants_publish_of_many_ko_images_all_verified_by_skopeo(registry_plain, tmp_path, unique_repo):
    repo = make_scratch_repo(tmp_path / "repo", files=load_sources(PANTS_IMAGES))
    env = dict(os.environ)
    env["KO_DOCKER_REPO"] = f"{registry_plain.host}/{unique_repo}"
    proc = subprocess.Popen(
        [str(repo.root / "pants"), "--no-pantsd", "--no-dynamic-ui", "publish", "src/go/cmd::"],
        cwd=repo.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    samples: list[dict[str, int]] = []
    try:
        deadline = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < deadline:
            sample = memory_of(proc.pid)  # ./pants execs Pants' Python: this pid is Pants itself
            if sample:
                samples.append(sample)
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-4000:]
    refs = {m.group(1): m.group(2) for m in REFERENCE.finditer(stdout)}
    load_refs = {r: d for r, d in refs.items() if "/load" in r}
    assert len(load_refs) == PANTS_IMAGES and len(set(load_refs.values())) == PANTS_IMAGES, stdout
    assert len(refs) == PANTS_IMAGES + 2  # and the example's server and worker
    assert skopeo_digests([f"{r}@{d}" for r, d in refs.items()]) == {f"{r}@{d}": d for r, d in refs.items()}
    assert samples, "no memory sample of the Pants process"
    peak = max(s["VmHWM"] for s in samples)
    # VmRSS at a quarter, half, three quarters and the end of the run (the first samples are
    # the launcher's bash before it execs Pants).
    rss = [s["VmRSS"] for s in samples]
    quarters = [rss[min(len(rss) - 1, len(rss) * q // 4)] for q in (1, 2, 3, 4)]
    print(f"\nLOAD pants publish: {len(refs)} images; Pants process VmHWM {peak} kB; "
          f"VmRSS at 25/50/75/100% of the run {quarters} kB ({len(rss)} samples)")
