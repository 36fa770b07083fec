"""Registries that misbehave on purpose (issue 17): endless, trickling, silent and redirecting
answers from a loopback server (``tests/peers/hostile.py``), in front of a real
``docker-registry`` where the client must get past the first requests.

Every test runs the real registry tools (``python -m pants_backend_ko.tool``: its ``inspect``,
``push`` and ``base`` verbs; ``./pants``) as processes and asserts the one line they print, a bound on their
peak memory (``ru_maxrss`` from ``wait4``, against a well-behaved run of the same tool), and a
bound on time, as a timeout (speed is measured in ``bench/``, never asserted here).
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from pathlib import Path

import pytest

from pants_backend_ko.codec import encode
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.tool.messages import BaseFetch
from tests.peers.hostile import Endless, HostileServer, Redirect, Respond, Silent, SlowReader, Trickle
from tests.peers.measure import MB, Run, measured
from tests.peers.pants_repo import make_scratch_repo
from tests.peers.registry import OCI_MANIFEST, write_test_layout
from tests.test_faults import write_big_layout

pytestmark = pytest.mark.peers

REPO_ROOT = Path(__file__).resolve().parent.parent
# Peak memory a misbehaving peer may add to a tool, over the same tool's well-behaved run.
# Before issue 17 these runs grew with the answer: 21 GB for an endless error body.
MEMORY_BOUND = 100 * MB
LIMITS = ("--registry-timeout", "3")  # the flags of the verbs people run by hand (inspect, push)


def cli(*args: str, timeout: float = 120) -> Run:
    """``python -m pants_backend_ko.tool ...``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT / "pants-plugins")}
    return measured([sys.executable, "-m", "pants_backend_ko.tool", *args], env=env, timeout=timeout)


def fetch_base(request: BaseFetch, out: Path, timeout: float = 120) -> Run:
    """The tool's ``base`` verb with a `BaseFetch` written as the Pants rules write it."""
    request_file = out.parent / f"{out.name}-request.json"
    request_file.write_bytes(encode(request))
    return cli("base", "--request", str(request_file), "--out", str(out), timeout=timeout)


@pytest.fixture(scope="module")
def seeded(registry_plain, tmp_path_factory):
    """A small image and a 3 MB single-layer image in the real registry."""
    small = write_test_layout(str(tmp_path_factory.mktemp("small")), single=True)
    big = write_big_layout(tmp_path_factory.mktemp("big"), [3 * MB])
    for layout, repo in ((small.path, "hostile/small"), (big.path, "hostile/big")):
        run = cli("push", "--layout", layout, "--repository", f"{registry_plain.host}/{repo}", "--tag", "v1")
        assert run.returncode == 0, run.stderr
    return small, big


@pytest.fixture(scope="module")
def baseline(registry_plain, seeded) -> Run:
    """``inspect`` of a real image through a server that misbehaves nowhere."""
    with HostileServer(registry_plain) as server:
        run = cli("inspect", f"{server.host}/hostile/small:v1")
    assert run.returncode == 0 and run.stdout.strip() == seeded[0].root_digest, run.stderr
    return run


def _gzip_bomb() -> bytes:
    """256 MiB of zeros in ~256 KiB of gzip: what a client inflating without a bound would hold."""
    return gzip.compress(b"\0" * (256 * MB), compresslevel=9)


def _endless_case(case: str, server: HostileServer) -> tuple[object, str, str]:
    """Set ``server`` up for ``case``; (behaviour, expected start, expected end of the line)."""
    h = server.host
    if case == "ping-500":
        behaviour = server.on("GET", r"^/v2/$", Endless(500))
        return behaviour, f"registry {h}: GET /v2/: 500 Internal Server Error: xxx", (
            "... (the registry failed after 5 attempts; try again later)"
        )
    server.on("GET", r"^/v2/$", Respond(200))
    if case == "manifest-404":
        behaviour = server.on("GET", "/manifests/", Endless(404, {"Content-Type": "text/plain"}))
        return behaviour, f"registry {h}: GET /v2/hostile/small/manifests/v1: 404 Not Found: xxx", (
            "... (not found; check the registry, repository and reference)"
        )
    if case == "manifest-200":
        behaviour = server.on("GET", "/manifests/", Endless(200, {"Content-Type": OCI_MANIFEST}))
        return behaviour, f"registry {h}: manifest hostile/small:v1: the manifest is larger than the 8 MiB", (
            "this client reads; the registry (or a proxy in front of it) is misbehaving"
        )
    if case == "manifest-gzip-bomb":
        headers = {"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"}
        behaviour = server.on("GET", "/manifests/", Respond(200, headers, _gzip_bomb()))
        return behaviour, f"registry {h}: manifest hostile/small:v1: the manifest is larger than the 8 MiB", (
            "this client reads; the registry (or a proxy in front of it) is misbehaving"
        )
    assert case == "token-answer"
    challenge = f'Bearer realm="http://{h}/token",service="hostile"'
    server.on("GET", r"^/v2/$", Respond(401, {"WWW-Authenticate": challenge}))
    behaviour = server.on("GET", r"^/token$", Endless(200, {"Content-Type": "application/json"}))
    return behaviour, f"registry {h}: GET token from http://{h}/token: the token answer is larger than the 1 MiB", (
        "this client reads; the registry (or a proxy in front of it) is misbehaving"
    )


@pytest.mark.parametrize("case", ["ping-500", "manifest-404", "manifest-200", "manifest-gzip-bomb", "token-answer"])
def test_endless_answers_cost_bounded_memory_and_say_so(case, registry_plain, seeded, baseline):
    with HostileServer(registry_plain) as server:
        behaviour, start, end = _endless_case(case, server)
        run = cli("inspect", f"{server.host}/hostile/small:v1")
    line = run.error
    assert line.startswith(start) and line.endswith(end), line
    assert run.maxrss < baseline.maxrss + MEMORY_BOUND, (run.maxrss, baseline.maxrss)
    sent = behaviour.sent if isinstance(behaviour, Endless) else 0
    if isinstance(behaviour, Endless):
        # The client stopped reading: what the server got out is what fits in socket buffers.
        assert 0 < sent < 64 * MB, sent
    print(f"\n{case}: peak RSS {run.maxrss / MB:.0f} MB (well-behaved run {baseline.maxrss / MB:.0f} MB), "
          f"{sent / MB:.1f} MB sent by the server, {run.seconds:.1f} s")


@pytest.mark.parametrize("where", ["after-accept", "manifest"])
def test_registry_that_never_answers_fails_after_the_timeout(where, registry_plain, seeded, baseline):
    silent = where == "after-accept"
    with HostileServer(None if silent else registry_plain, silent=silent) as server:
        if not silent:
            server.on("GET", "/manifests/", Silent())
        run = cli("inspect", f"{server.host}/hostile/small:v1", *LIMITS, timeout=60)
        accepted = server.accepted
    path = "/v2/" if silent else "/v2/hostile/small/manifests/v1"
    assert run.error == (
        f"registry {server.host}: GET {path}: connected, but no answer within 3 s "
        "(the limit is [ko].registry_timeout; raise it if the peer is only slow)"
    )
    # Loopback: https (its handshake unanswered) then plain http, each given the 3 s, no retries.
    assert accepted <= 2
    assert run.maxrss < baseline.maxrss + MEMORY_BOUND
    print(f"\nsilent {where}: {run.seconds:.1f} s, peak RSS {run.maxrss / MB:.0f} MB")


@pytest.mark.parametrize(
    "every, expected",
    [
        (0.5, r"the answer arrives too slowly: \d bytes? in 3 s, below the minimum of 10 KiB/s "
              r"\(the limit is \[ko\].registry_min_speed; 0 turns it off\)"),
        (5.0, r"the answer stopped: no data for 3 s "
              r"\(the limit is \[ko\].registry_timeout; raise it if the peer is only slow\)"),
    ],
)  # fmt: skip
def test_trickling_base_layer_fails_and_leaves_nothing(every, expected, registry_plain, seeded, tmp_path, baseline):
    big = seeded[1]
    layer = big.blobs[1][0]
    out, cache = tmp_path / "out", tmp_path / "cache"
    with HostileServer(registry_plain) as server:
        trickle = server.on("GET", f"/blobs/{layer}$", Trickle(b"x" * 4096, every))
        # The limits travel in the message, as [ko].registry_timeout does from the rules.
        request = BaseFetch(f"{server.host}/hostile/big:v1", cache_dir=str(cache), transport=TransportLimits(timeout=3))
        run = fetch_base(request, out)
    prefix = f"registry {server.host}: GET /v2/hostile/big/blobs/{layer}: "
    assert run.error.startswith(prefix) and re.fullmatch(expected, run.error[len(prefix) :]), run.error
    assert trickle.sent < 20
    # Nothing unverified kept: no layer file, no partial file, in the output or the cache.
    kept = [p.name for p in (*out.rglob("*"), *cache.rglob("*")) if p.is_file()]
    assert layer[7:] not in kept and not [name for name in kept if "partial" in name or name.startswith(".tmp")]
    assert run.maxrss < baseline.maxrss + MEMORY_BOUND
    print(f"\ntrickle every {every} s: {run.seconds:.1f} s, peak RSS {run.maxrss / MB:.0f} MB")


def test_upload_that_stops_moving_fails_and_tags_nothing(registry_plain, tmp_path, unique_repo, baseline):
    layout = write_big_layout(tmp_path / "layout", [16 * MB])
    with HostileServer(registry_plain) as server:
        reader = server.on("PUT", "/blobs/uploads/", SlowReader(0.01, stop_after=256 * 1024))
        run = cli("push", "--layout", layout.path, "--repository", f"{server.host}/{unique_repo}", "--tag", "v1",
                  *LIMITS, timeout=90)  # fmt: skip
    line = run.error
    assert line.startswith(f"registry {server.host}: PUT /v2/{unique_repo}/blobs/uploads/"), line
    assert line.endswith(
        ": connected, but the upload made no progress for 3 s "
        "(the limit is [ko].registry_timeout; raise it if the peer is only slow)"
    ), line
    assert reader.received >= 256 * 1024
    status, _, _ = registry_plain.raw_request("HEAD", f"/v2/{unique_repo}/manifests/v1", {"Accept": OCI_MANIFEST})
    assert status == 404
    assert run.maxrss < baseline.maxrss + MEMORY_BOUND
    print(f"\nupload stalled after {reader.received // 1024} KiB: {run.seconds:.1f} s, peak RSS {run.maxrss / MB:.0f} MB")


def test_redirects_are_followed_for_reads_and_refused_with_a_hint_for_writes(registry_plain, seeded, tmp_path):
    small = seeded[0]
    with HostileServer(registry_plain) as server, HostileServer(registry_plain) as moved:
        h = server.host
        # A manifest read through a redirect to another origin (a registry that moved or a CDN).
        server.on("GET", r"/manifests/moved$", Redirect(f"http://{moved.host}/v2/hostile/small/manifests/v1", 307))
        read = cli("inspect", f"{h}/hostile/small:moved")
        assert read.returncode == 0 and read.stdout.strip() == small.root_digest, read.stderr
        assert ("GET", "/v2/hostile/small/manifests/v1") in moved.log
        # A manifest upload answered with a redirect: refused, naming where it points.
        server.on("PUT", "/manifests/", Redirect(f"http://{moved.host}/v2/elsewhere/manifests/v1", 308))
        layout = write_test_layout(str(tmp_path / "layout"), single=True)
        write = cli("push", "--layout", layout.path, "--repository", f"{h}/hostile/redirected", "--tag", "v1")
        assert write.error == (
            f"registry {h}: PUT /v2/hostile/redirected/manifests/{layout.root_digest}: 308 redirect to "
            f"http://{moved.host}/v2/elsewhere/manifests/v1; uploads are not sent through redirects — "
            f"if the registry moved, publish to {moved.host} directly"
        )
        # A redirect loop ends.
        server.on("GET", r"/manifests/loop$", Redirect(f"http://{h}/v2/hostile/small/manifests/loop"))
        loop = cli("inspect", f"{h}/hostile/small:loop")
        assert loop.error == (
            f"registry {h}: GET /v2/hostile/small/manifests/loop: more than 5 redirects; the registry is misconfigured"
        )


# --------------------------------------------------------------------- under Pants


def test_pants_passes_the_limits_to_every_registry_tool_and_stays_bounded(registry_plain, seeded, tmp_path):
    """`[ko].registry_timeout` reaches the base-image tool and the push; an endless error body
    costs `pants package` (the Pants process and its sandboxed tools) no more than a silent
    registry does."""
    repo = make_scratch_repo(tmp_path / "repo")
    with HostileServer(registry_plain) as base, HostileServer(silent=True) as dead:
        base.on("GET", "/manifests/silent$", Silent())
        base.on("GET", "/manifests/endless$", Endless(404, {"Content-Type": "text/plain"}))
        repo.write("src/go/cmd/worker/BUILD", (
            f'ko_image(name="silent", base_image="{base.host}/hostile/small:silent")\n'
            f'ko_image(name="endless", base_image="{base.host}/hostile/small:endless")\n'
            'ko_image(name="worker", base_image="scratch")\n'
            'ko_go_package(name="pkg")\n'  # the package target the scratch repository's BUILD had
        ))  # fmt: skip
        pants = [str(repo.root / "pants"), "--no-pantsd", "--no-dynamic-ui", "--ko-registry-timeout=3"]
        env = {k: v for k, v in os.environ.items() if k != "KO_DOCKER_REPO"}

        silent = measured([*pants, "package", "src/go/cmd/worker:silent"], env=env, cwd=repo.root, timeout=600)
        assert silent.returncode != 0
        assert (
            f"registry {base.host}: GET /v2/hostile/small/manifests/silent: connected, but no answer within 3 s "
            "(the limit is [ko].registry_timeout; raise it if the peer is only slow)"
        ) in silent.stderr, silent.stderr[-3000:]

        endless = measured([*pants, "package", "src/go/cmd/worker:endless"], env=env, cwd=repo.root, timeout=600)
        assert endless.returncode != 0
        assert f"registry {base.host}: GET /v2/hostile/small/manifests/endless: 404 Not Found: xxx" in endless.stderr
        assert endless.maxrss < silent.maxrss + MEMORY_BOUND, (endless.maxrss, silent.maxrss)

        publish = measured(
            [*pants, "publish", "src/go/cmd/worker:worker"],
            env={**env, "KO_DOCKER_REPO": f"{dead.host}/app"},
            cwd=repo.root,
            timeout=600,
        )
        assert publish.returncode != 0
        assert (
            f"registry {dead.host}: GET /v2/: connected, but no answer within 3 s "
            "(the limit is [ko].registry_timeout; raise it if the peer is only slow)"
        ) in publish.stdout + publish.stderr, (publish.stdout + publish.stderr)[-3000:]
    print(
        f"\npants package peak RSS: silent base registry {silent.maxrss / MB:.0f} MB, "
        f"endless 404 body {endless.maxrss / MB:.0f} MB; times {silent.seconds:.0f} s / {endless.seconds:.0f} s; "
        f"publish to a silent registry {publish.seconds:.0f} s"
    )
