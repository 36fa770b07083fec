"""The Go layer writer (`pants_backend_ko/_golayer/main.go`): compiled once per Go toolchain,
run as cached Processes that write ko's layer blobs (and `package`'s docker archive).

No byte of a layer passes through Pants' Python: a Process gets the binaries and kodata files
by digest, writes each blob to `blobs/sha256/<hex>` (its output digest merges straight into an
OCI layout) and answers with the small `LayersWritten` JSON on stdout (`oci/layerwriter.py`).

The writer is compiled with the toolchain and the `go` Process of the builds (`go_build.py`:
`GoToolchain`, `go_process`), for the platform the Processes run on, so a hermetic or remote
toolchain serves it as it serves the builds; its cache key holds the toolchain's identity and
the source, so a new Go or a new writer recompiles it once. Its Processes name the binary by a
sandbox-relative path: nothing of this machine's paths is in their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pants.engine.environment import EnvironmentName
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests, RemovePrefix
from pants.engine.platform import Platform as PantsPlatform
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

import pants_backend_ko
from pants_backend_ko.codec import decode, encode
from pants_backend_ko.errors import KoError, located
from pants_backend_ko.oci.layerwriter import ArchiveRequest, LayersRequest, LayersWritten
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.util_rules.environments import REMOTE_CACHE_SPECULATION_DELAY_MS
from pants_backend_ko.util_rules.go_build import (
    GoEnvRequest,
    GoProcess,
    GoProcessEnv,
    GoToolchain,
    go_process,
)
from pants_backend_ko.util_rules.go_module import GoModule

SOURCE_DIR = Path(pants_backend_ko.__file__).resolve().parent / "_golayer"
TOOL_DIR = "__ko_golayer"  # where the source is compiled, and the binary lives, in sandboxes
TOOL_BINARY = f"{TOOL_DIR}/golayer"
# The writer's own module: standard library only, so nothing is downloaded to compile it.
GO_MOD = b"module pantsbackendko/golayer\n\ngo 1.21\n"
REQUEST_FILE = "__ko_golayer_request.json"
BLOBS_DIR = "blobs/sha256"  # where `layers` writes, as an OCI layout names blobs

# Pants' name for the machine it runs on -> the platform `host` means (ko issue 946).
HOST_PLATFORMS = {
    PantsPlatform.linux_x86_64: "linux/amd64",
    PantsPlatform.linux_arm64: "linux/arm64",
    PantsPlatform.macos_x86_64: "darwin/amd64",
    PantsPlatform.macos_arm64: "darwin/arm64",
}


@dataclass(frozen=True)
class LayerWriter:
    """The compiled writer. Processes get it as an immutable input at TOOL_DIR: Pants
    materializes it once and links it into every sandbox (one image build per image and
    platform would otherwise copy it each time)."""

    digest: Digest  # holds `golayer` at its root
    environment: EnvironmentName  # where it was compiled, so where it runs

    @property
    def immutable_inputs(self) -> dict[str, Digest]:
        return {TOOL_DIR: self.digest}


@rule(desc="Compile the Go layer writer", level=LogLevel.DEBUG)
async def compile_layer_writer(go: GoToolchain, host: PantsPlatform) -> LayerWriter:
    sources = [FileContent(f"{TOOL_DIR}/{p.name}", p.read_bytes()) for p in sorted(SOURCE_DIR.glob("*.go"))]
    input_digest = await Get(Digest, CreateDigest([*sources, FileContent(f"{TOOL_DIR}/go.mod", GO_MOD)]))
    # For the platform the Processes run on (a remote worker's, in a remote environment).
    env = await Get(GoProcessEnv, GoEnvRequest(Platform.parse(HOST_PLATFORMS[host])))
    module = GoModule(root=TOOL_DIR, module_path="pantsbackendko/golayer", vendored=False)
    result = await Get(
        FallibleProcessResult,
        GoProcess(
            go_process(
                go,
                ("build", "-trimpath", "-buildvcs=false", "-o", "golayer", "."),
                module=module,
                env=env,
                input_digest=input_digest,
                description="Compile the Go layer writer",
                output_files=(TOOL_BINARY,),
            )
        ),
    )
    if result.exit_code != 0:
        raise KoError(
            f"cannot compile the Go layer writer: {_failure(result)}", fix="check the Go toolchain ([ko].go_version)"
        )
    # Its Processes run where it was compiled: `[ko].build_environment`.
    digest = await Get(Digest, RemovePrefix(result.output_digest, TOOL_DIR))
    return LayerWriter(digest, go.environment)


def _failure(result: FallibleProcessResult) -> str:
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1] if lines else f"exit code {result.exit_code}"
    return detail[len("golayer: ") :] if detail.startswith("golayer: ") else detail


@dataclass(frozen=True)
class WriterRun:
    """One run of the writer: `golayer <verb> <request file>`, where it was compiled."""

    verb: str
    request: bytes  # the request Message, encoded
    input_digest: Digest  # the files the request names
    description: str
    output_files: tuple[str, ...] = ()
    output_directories: tuple[str, ...] = ()


@rule(level=LogLevel.DEBUG)
async def run_layer_writer(run: WriterRun, writer: LayerWriter) -> FallibleProcessResult:
    request_file = await Get(Digest, CreateDigest([FileContent(REQUEST_FILE, run.request)]))
    input_digest = await Get(Digest, MergeDigests([request_file, run.input_digest]))
    process = Process(
        argv=(f"./{TOOL_BINARY}", run.verb, REQUEST_FILE),
        description=run.description,
        input_digest=input_digest,
        immutable_input_digests=writer.immutable_inputs,
        output_files=run.output_files,
        output_directories=run.output_directories,
        cache_scope=ProcessCacheScope.SUCCESSFUL,
        # As the go Processes: with a remote cache, a hit must answer before execution starts
        # (Pants' default races them, and a fresh clone would run every layer write again).
        remote_cache_speculation_delay_millis=REMOTE_CACHE_SPECULATION_DELAY_MS,
        level=LogLevel.DEBUG,
    )
    return await Get(FallibleProcessResult, {process: Process, writer.environment: EnvironmentName})


@dataclass(frozen=True)
class WriteLayersRequest:
    request: LayersRequest
    input_digest: Digest  # the files the request's entries and binaries name
    description: str
    owner: str  # the target, for messages


@dataclass(frozen=True)
class WrittenLayers:
    written: LayersWritten
    blobs: Digest  # blobs/sha256/<hex> of each layer


@rule(desc="Write image layers", level=LogLevel.DEBUG)
async def write_layers(request: WriteLayersRequest) -> WrittenLayers:
    if request.request.out != BLOBS_DIR:
        raise ValueError(f"layer requests write to {BLOBS_DIR}, not {request.request.out}")
    result = await Get(
        FallibleProcessResult,
        WriterRun(
            "layers",
            encode(request.request),
            request.input_digest,
            request.description,
            output_directories=(BLOBS_DIR,),
        ),
    )
    if result.exit_code != 0:
        raise KoError(f"cannot write the image's layers: {_failure(result)}", where=request.owner)
    try:
        written = decode(LayersWritten, result.stdout, "the layer writer's answer")
    except (KoError, ValueError) as e:  # a mismatched writer: say so, with the target
        raise located(e, request.owner) from None
    return WrittenLayers(written, result.output_digest)


@dataclass(frozen=True)
class WriteArchiveRequest:
    request: ArchiveRequest
    input_digest: Digest
    description: str
    owner: str


@dataclass(frozen=True)
class WrittenArchive:
    digest: Digest  # holds the request's `out`


@rule(desc="Write a docker archive", level=LogLevel.DEBUG)
async def write_archive(request: WriteArchiveRequest) -> WrittenArchive:
    result = await Get(
        FallibleProcessResult,
        WriterRun(
            "archive",
            encode(request.request),
            request.input_digest,
            request.description,
            output_files=(request.request.out,),
        ),
    )
    if result.exit_code != 0:
        raise KoError(f"cannot write the docker archive: {_failure(result)}", where=request.owner)
    return WrittenArchive(result.output_digest)


def rules():
    return collect_rules()
