"""What crosses the process boundary between the Pants rules and the tool, as typed messages.

Each request and answer is a frozen dataclass with one JSON codec (`codec.Message`: `to_json`,
`from_json`, derived from the fields), used on both sides: the rules (`util_rules/`, `goals/`)
write requests with it and read answers with it; the tool (`tool/main.py`) reads requests with
it and writes answers with it. Nothing on either side reads a message as a dict.

| verb | request | answer |
|---|---|---|
| `push-plan` | `PushPlan` (file) | one `REPO@sha256:<hex>` line per pushed image (interactive) |
| `deploy` | `DeployPlan` (file) | kubectl's output and exit code (interactive) |
| `status` | `StatusQuery` (file) | `RegistryState` on stdout (`oci/remote/state.py`) |
| `base` | `BaseFetch` (file) | `BaseDescription` in `<out>/base.json`, blobs in `<out>/blobs/sha256/` |
| `scan` | `ManifestScan` (file) | `ScannedManifests` on stdout, a `SplicePlan` in `<out>/splices.json` |
| `render` | `ManifestRender` (file) | `RenderedManifestFiles` on stdout, the YAML in `<out>/` |

A failed verb prints one `error: <message>` line (`error_line`); the rules read it back with
`error_from_stderr`. Paths inside messages are relative to the folder of the file that holds
them, so a message and its files can be placed anywhere (a sandbox, a remote worker).

The messages are written to grow: a `PushPlan` entry names what kind of destination it
publishes to (`ImagePush.kind`: `registry`, or `daemon` for ko's `ko.local`, a load into the
Docker daemon at `DOCKER_HOST`) and lists typed attachments (`Attachment.kind`, only `sbom`
today); the tool rejects a kind it does not know with one line instead of ignoring it. A plan
that signs carries `SigningOptions` (`sign/options.py`: the key's reference and public half,
never the key or its password, which reach the push process through its environment) and, per
registry image, the `ProvenanceInputs` of its SLSA attestation (`sign/provenance.py`); a daemon
load is never signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pants_backend_ko.codec import Message, MessageError, check_kind
from pants_backend_ko.errors import one_line
from pants_backend_ko.oci.digest import check_digest, digest_hex, is_digest
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.state import RepositoryQuery
from pants_backend_ko.sign.options import SigningOptions
from pants_backend_ko.sign.provenance import ProvenanceInputs

ERROR_PREFIX = "error: "

# Destinations a PushPlan entry can publish to, and what can be attached to a pushed manifest.
REGISTRY = "registry"
DAEMON = "daemon"  # ko.local: loaded into the Docker daemon at DOCKER_HOST (`oci/daemon/`)
PUSH_KINDS = (REGISTRY, DAEMON)
SBOM = "sbom"  # ko's sha256-<hex>.sbom tag and an OCI 1.1 referrer (oci/remote/attach.py)
ATTACHMENT_KINDS = (SBOM,)


def error_line(message: str) -> str:
    """The one line a failed verb prints on stderr."""
    return ERROR_PREFIX + (one_line(message) or "failed")


def error_from_stderr(stderr: bytes, exit_code: int) -> str:
    """What a failed verb said (its last `error: ` line), for a rule to report it."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return f"exit code {exit_code}"
    last = lines[-1]
    return last[len(ERROR_PREFIX) :] if last.startswith(ERROR_PREFIX) else last


# --------------------------------------------------------------------------- push


@dataclass(frozen=True)
class Attachment(Message):
    """A file attached to a pushed manifest once the push is done."""

    kind: str  # one of ATTACHMENT_KINDS
    subject: str  # the digest of the manifest it is attached to
    path: str  # the file, relative to the plan's folder

    def __post_init__(self) -> None:
        check_kind(self.kind, ATTACHMENT_KINDS)


@dataclass(frozen=True)
class ImagePush(Message):
    """One image of a push plan, to one destination: an OCI layout and where it goes. An image
    published to several registries is one entry per registry (the same layout folder)."""

    layout: str  # the OCI image layout folder, relative to the plan's folder
    repository: str  # registry/path
    tags: tuple[str, ...] = ()
    # Blobs the layout does not hold (a shallow base's layers): (digest, "registry/repository")
    # to mount from on the same registry, or to stream from.
    blob_sources: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    kind: str = REGISTRY  # one of PUSH_KINDS
    target: str = ""  # the ko_image address, for messages
    digest: str = ""  # the layout's top manifest or index; the tool refuses a layout that is not it
    provenance: ProvenanceInputs | None = None  # attested when the plan signs
    # For `daemon`: the digest of the image manifest to load (an index's GOOS/GOARCH image,
    # chosen by the rules, which name it `<repository>:<hex>` in rendered YAML, as ko does).
    image: str = ""

    def __post_init__(self) -> None:
        check_kind(self.kind, PUSH_KINDS)
        if self.digest and not is_digest(self.digest):
            raise MessageError(f"digest {self.digest!r} is not a sha256 digest")
        if self.kind == DAEMON:
            try:
                check_digest(self.image, "image")
            except ValueError as e:
                raise MessageError(str(e)) from None
            if self.blob_sources or self.attachments or self.provenance is not None:
                # A daemon holds every layer of what it loads, and ko attaches and signs nothing there.
                raise MessageError("a daemon load has no blob sources, attachments or provenance")
        elif self.image:
            raise MessageError("only a daemon load names one `image` of the layout")


@dataclass(frozen=True)
class PushPlan(Message):
    """Images to push, in parallel, each skipping what its registry already has."""

    images: tuple[ImagePush, ...] = ()
    jobs: int = 4  # blob uploads in parallel per image
    insecure_registries: tuple[str, ...] = ()
    transport: TransportLimits = TransportLimits()  # [ko].registry_timeout/registry_min_speed
    signing: SigningOptions | None = None  # [ko].signing_key: sign every pushed image and its SBOMs
    # ko's --tag-only: references name the tag alone, so a tag that already names another digest
    # is not moved (nothing of the plan is pushed).
    tag_only: bool = False


@dataclass(frozen=True)
class DeployPlan(Message):
    """Push what the rendered YAML refers to, then `kubectl <verb> -f -` with that YAML."""

    target: str  # the ko_manifests address, for messages
    verb: str  # apply, create, replace, delete
    manifest: str  # the rendered YAML, relative to the plan's folder
    kubectl_args: tuple[str, ...] = ()
    push: PushPlan = PushPlan()


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusQuery(Message):
    """Which of these repositories' tags and digests a registry has (read-only)."""

    repositories: tuple[RepositoryQuery, ...]
    sbom: bool  # an image counts as published only with its SBOM attachments
    # ko.local repositories: the tags the Docker daemon at DOCKER_HOST holds in them (`RegistryState.daemon`).
    daemon_repositories: tuple[str, ...] = ()
    signing: SigningOptions | None = None  # ... and, when set, signed (checked with its public_key)
    insecure_registries: tuple[str, ...] = ()
    jobs: int = 8  # registry requests in parallel
    transport: TransportLimits = TransportLimits()


# --------------------------------------------------------------------------- base images

BASE_DESCRIPTION_FILE = "base.json"


def blob_path(digest: str) -> str:
    """Where the `base` verb writes a blob, relative to its output folder."""
    return f"blobs/sha256/{digest_hex(digest)}"


@dataclass(frozen=True)
class BaseFetch(Message):
    """A base image to fetch for a build: a registry reference or an OCI layout folder."""

    reference: str | None = None  # a registry reference (tag or digest)
    layout: str | None = None  # or an OCI image layout folder (relative to the working directory)
    daemon: str | None = None  # or an image of the Docker daemon at DOCKER_HOST (a `ko.local/...` base)
    platforms: tuple[str, ...] = ()  # `os/arch[/variant]`, or `all`
    layers: bool = True  # False: manifests and configs only (`[ko].shallow_base_images`)
    cache_dir: str | None = None  # a content-addressed cache shared between runs
    insecure_registries: tuple[str, ...] = ()
    transport: TransportLimits = TransportLimits()

    def __post_init__(self) -> None:
        if [self.reference, self.layout, self.daemon].count(None) != 2:
            raise MessageError(
                "a base fetch names one of a registry reference, a layout folder or a Docker daemon image"
            )


@dataclass(frozen=True)
class BasePlatformImage(Message):
    """One platform's image of a fetched base; its manifest, config and held layers are blobs."""

    platform: str
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    layers: tuple[str, ...]  # layer digests, in order


@dataclass(frozen=True)
class BaseDescription(Message):
    """What a base resolved to: the `base` verb's answer (`BASE_DESCRIPTION_FILE`)."""

    reference: str
    name: str  # the fully qualified reference (a layout's path for a layout)
    registry: str  # empty for a layout
    repository: str  # empty for a layout
    digest: str  # of the top manifest or index
    media_type: str
    is_index: bool
    images: tuple[BasePlatformImage, ...]  # the requested platforms, in the base's order

    @property
    def origin(self) -> str:
        """`registry/repository`: where the base's blobs can be mounted or streamed from."""
        return f"{self.registry}/{self.repository}"


# --------------------------------------------------------------------------- ko_manifests

# What the `scan` verb writes under its `--out` folder, and the `render` verb under its own.
SPLICE_PLAN = "splices.json"  # a SplicePlan
COMBINED_MANIFEST = "combined.yaml"  # every rendered document, in file order: one YAML stream
RENDERED_FILES_DIR = "files"  # each file rendered, at its own path below this folder


@dataclass(frozen=True)
class ManifestProblem(Message):
    """Why a ko_manifests target's YAML cannot be scanned or rendered, said in one line."""

    what: str
    where: str = ""  # `path:line[:col]` when the problem has a place in a file
    fix: str = ""


@dataclass(frozen=True)
class ReferenceSite(Message):
    """Where a `ko://` import path is first referred to."""

    import_path: str
    path: str
    line: int


@dataclass(frozen=True)
class ManifestScan(Message):
    """Which `ko://` import paths a ko_manifests target's files refer to (dependency inference,
    and which images a render needs), and where they are (the render's `SplicePlan`)."""

    files: tuple[str, ...]  # relative to the request's folder, in the target's order
    selector: str = ""  # a label selector (already checked by the rules); "" keeps every document


@dataclass(frozen=True)
class ScannedManifests(Message):
    """The `scan` verb's answer: the first site of each import path, in file order, in every
    document and in the documents the selector keeps (the same without a selector)."""

    references: tuple[ReferenceSite, ...] = ()
    selected: tuple[ReferenceSite, ...] = ()
    problem: ManifestProblem | None = None  # the files cannot be read; nothing else is said


@dataclass(frozen=True)
class FileSplices(Message):
    """What a render needs of one file's parse: the text ranges the selector keeps, and each
    `ko://` scalar in them as `(offset, line, column, end, style, value)` (offsets in
    characters, line and column 0-based, style "" for plain or one of `' " | >`). A tuple per
    scalar, not a message: a 50 MB file has 150 000 of them."""

    path: str
    kept: tuple[tuple[int, int], ...]
    scalars: tuple[tuple[int, int, int, int, str, str], ...]


@dataclass(frozen=True)
class SplicePlan(Message):
    """The `scan` verb's parse, kept for the `render` verb, which then reads no YAML."""

    files: tuple[FileSplices, ...]


@dataclass(frozen=True)
class ManifestRender(Message):
    """Write a ko_manifests target's kept documents with each `ko://` string's image spliced in."""

    plan: str  # the scan's SplicePlan; it and the files it names are relative to the request's folder
    resolved: Mapping[str, str]  # import path -> the image reference that replaces `ko://<it>`
    resolve: bool = True  # False (`kubectl delete`): select only, `ko://` strings kept as written
    known: tuple[str, ...] = ()  # every import path a ko_image builds: suggestions for a typo


@dataclass(frozen=True)
class RenderedManifestFiles(Message):
    """The `render` verb's answer; the YAML itself is in its `--out` folder
    (`COMBINED_MANIFEST`, `RENDERED_FILES_DIR`/<path>), and is not written when there is a problem."""

    problem: ManifestProblem | None = None
