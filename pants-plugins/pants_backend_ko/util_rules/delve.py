"""Delve for debug images (ko's `--debug`): `dlv` built for the image's platform.

ko's `getDelve` (`pkg/build/gobuild.go` of github.com/ko-build/ko) clones Delve's default branch
and runs `go build -trimpath -ldflags=-s -w -o <tmp>/bin/<os>_<arch>/dlv ./cmd/dlv` in the clone
with the image's GOOS/GOARCH. Here the version is pinned (`DELVE_VERSION`) and comes from the
Go module proxy: one cached Process downloads the module (`go mod download`, verified by the
checksum database as any module) and builds `./cmd/dlv` inside it with the same flags and the
build environment of the image's own binaries (the user's toolchain, `CGO_ENABLED=0`, the
platform's `GOOS`/`GOARCH`/`GOARM`/`GOAMD64`, the user's `GOPROXY`); Delve's own go.sum pins its
dependencies. The binary is the same for every image of a platform, so it is built once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import EMPTY_DIGEST
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.util_rules.environments import REMOTE_CACHE_SPECULATION_DELAY_MS
from pants_backend_ko.util_rules.go_build import (
    GO_CACHES,
    GO_SANDBOX_SETUP,
    SHELL,
    BuiltGoBinary,
    GoEnvRequest,
    GoProcess,
    GoProcessEnv,
    GoToolchain,
)

DELVE_MODULE = "github.com/go-delve/delve"
DELVE_VERSION = "v1.26.0"
DELVE_NAME = "dlv"  # its file name in the image: /ko-app/dlv, as ko

# `$1` is go; Go's caches are the sandbox's, set up as for every `go` Process (`GO_SANDBOX_SETUP`:
# no `{chroot}`, so this runs on a remote worker too); the module's files are in GOMODCACHE after
# the download (a module path of lower-case letters needs no case-encoding).
_SCRIPT = (
    "root=$(pwd); go=$1; "
    + GO_SANDBOX_SETUP
    + f"""set -eu
out="$root/__ko_out/{DELVE_NAME}"
"$go" mod download {DELVE_MODULE}@{DELVE_VERSION}
cd "$GOMODCACHE/{DELVE_MODULE}@{DELVE_VERSION}"
exec "$go" build -trimpath "-ldflags=-s -w" -o "$out" ./cmd/dlv
"""
)


@dataclass(frozen=True)
class DelveRequest:
    """Delve for one platform: keyed by the platform only, so every debug image shares it."""

    platform: Platform


@rule(desc="Build Delve", level=LogLevel.DEBUG)
async def build_delve(request: DelveRequest, go: GoToolchain) -> BuiltGoBinary:
    env = await Get(GoProcessEnv, GoEnvRequest(request.platform))
    out = f"__ko_out/{DELVE_NAME}"
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            Process(
                argv=(SHELL, "-c", _SCRIPT, "sh", go.path),
                description=f"go build {DELVE_MODULE}/cmd/dlv@{DELVE_VERSION} ({request.platform})",
                input_digest=EMPTY_DIGEST,
                immutable_input_digests=go.immutable_inputs,
                env=env.env,
                append_only_caches=GO_CACHES,
                remote_cache_speculation_delay_millis=REMOTE_CACHE_SPECULATION_DELAY_MS,
                output_files=(out,),
                level=LogLevel.DEBUG,
                cache_scope=ProcessCacheScope.SUCCESSFUL,
            )
        ),
    )
    if result.exit_code != 0:
        stderr = result.stderr.decode(errors="replace").strip().splitlines()
        raise KoError(
            f"building Delve {DELVE_VERSION} for {request.platform} (debug image) failed: {' | '.join(stderr[-5:])}",
            fix="check that the Go module proxy (GOPROXY) serves github.com/go-delve/delve, or build without debug.",
        )
    return BuiltGoBinary(result.output_digest, out)


def rules():
    return collect_rules()
