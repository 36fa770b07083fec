"""What crosses the process boundary between the Pants rules and the tool, as typed messages.

Each request and answer is a frozen dataclass with one JSON codec (`to_json`/`from_json`),
used on both sides: the rules (`util_rules/`, `goals/`) write requests with it and read answers
with it; the tool (`tool/main.py`) reads requests with it and writes answers with it. Nothing
on either side reads a message as a dict.

| verb | request | answer |
|---|---|---|
| `push-plan` | `PushPlan` (file) | one `REPO@sha256:<hex>` line per pushed image (interactive) |
| `deploy` | `DeployPlan` (file) | kubectl's output and exit code (interactive) |
| `status` | `StatusQuery` (file) | `RegistryState` on stdout (`oci/remote/state.py`) |
| `base` | `BaseFetch` (file) | `BaseDescription` in `<out>/base.json`, blobs in `<out>/blobs/sha256/` |

A failed verb prints one `error: <message>` line (`error_line`); the rules read it back with
`error_from_stderr`. Paths inside messages are relative to the folder of the file that holds
them, so a message and its files can be placed anywhere (a sandbox, a remote worker).

The messages are written to grow: a `PushPlan` entry names what kind of destination it
publishes to (`ImagePush.kind`, only `registry` today) and lists typed attachments
(`Attachment.kind`, only `sbom` today); the tool rejects a kind it does not know with one line
instead of ignoring it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pants_backend_ko.codec import Fields, MessageError
from pants_backend_ko.errors import one_line
from pants_backend_ko.oci.model import digest_hex
from pants_backend_ko.oci.remote.state import RepositoryQuery

ERROR_PREFIX = "error: "

# Destinations a PushPlan entry can publish to, and what can be attached to a pushed manifest.
REGISTRY = "registry"
PUSH_KINDS = (REGISTRY,)
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
class Attachment:
    """A file attached to a pushed manifest once the push is done."""

    kind: str  # one of ATTACHMENT_KINDS
    subject: str  # the digest of the manifest it is attached to
    path: str  # the file, relative to the plan's folder

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "path": self.path}

    @classmethod
    def from_json(cls, value: Any, where: str) -> Attachment:
        f = Fields(value, where)
        return cls(f.one_of("kind", ATTACHMENT_KINDS), f.str("subject"), f.str("path"))


@dataclass(frozen=True)
class ImagePush:
    """One image of a push plan: an OCI layout and where it goes."""

    layout: str  # the OCI image layout folder, relative to the plan's folder
    repository: str  # registry/path
    tags: tuple[str, ...] = ()
    # Blobs the layout does not hold (a shallow base's layers): (digest, "registry/repository")
    # to mount from on the same registry, or to stream from.
    blob_sources: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    kind: str = REGISTRY  # one of PUSH_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layout": self.layout,
            "repository": self.repository,
            "tags": list(self.tags),
            "blob_sources": [list(pair) for pair in self.blob_sources],
            "attachments": [a.to_json() for a in self.attachments],
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> ImagePush:
        f = Fields(value, where)
        return cls(
            layout=f.str("layout"),
            repository=f.str("repository"),
            tags=f.strs("tags"),
            blob_sources=f.pairs("blob_sources"),
            attachments=f.objects("attachments", Attachment.from_json),
            kind=f.one_of("kind", PUSH_KINDS, REGISTRY),
        )


@dataclass(frozen=True)
class PushPlan:
    """Images to push, in parallel, each skipping what its registry already has."""

    images: tuple[ImagePush, ...] = ()
    jobs: int = 4  # blob uploads in parallel per image
    insecure_registries: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "images": [image.to_json() for image in self.images],
            "jobs": self.jobs,
            "insecure_registries": list(self.insecure_registries),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> PushPlan:
        f = Fields(value, where)
        return cls(
            images=f.objects("images", ImagePush.from_json),
            jobs=f.int("jobs", 4),
            insecure_registries=f.strs("insecure_registries"),
        )


@dataclass(frozen=True)
class DeployPlan:
    """Push what the rendered YAML refers to, then `kubectl <verb> -f -` with that YAML."""

    target: str  # the ko_manifests address, for messages
    verb: str  # apply, create, replace, delete
    manifest: str  # the rendered YAML, relative to the plan's folder
    kubectl_args: tuple[str, ...] = ()
    push: PushPlan = PushPlan()

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "verb": self.verb,
            "manifest": self.manifest,
            "kubectl_args": list(self.kubectl_args),
            "push": self.push.to_json(),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> DeployPlan:
        f = Fields(value, where)
        return cls(
            target=f.str("target"),
            verb=f.str("verb"),
            manifest=f.str("manifest"),
            kubectl_args=f.strs("kubectl_args"),
            push=f.object("push", PushPlan.from_json),
        )


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class StatusQuery:
    """Which of these repositories' tags and digests a registry has (read-only)."""

    repositories: tuple[RepositoryQuery, ...]
    sbom: bool  # an image counts as published only with its SBOM attachments
    insecure_registries: tuple[str, ...] = ()
    jobs: int = 8  # registry requests in parallel

    def to_json(self) -> dict[str, Any]:
        return {
            "repositories": [
                {"repository": q.repository, "tags": list(q.tags), "digests": list(q.digests)}
                for q in self.repositories
            ],
            "sbom": self.sbom,
            "insecure_registries": list(self.insecure_registries),
            "jobs": self.jobs,
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> StatusQuery:
        f = Fields(value, where)

        def query(item: Any, at: str) -> RepositoryQuery:
            q = Fields(item, at)
            return RepositoryQuery(q.str("repository"), q.strs("tags"), q.strs("digests"))

        return cls(
            repositories=f.objects("repositories", query),
            sbom=f.bool("sbom"),
            insecure_registries=f.strs("insecure_registries"),
            jobs=f.int("jobs", 8),
        )


# --------------------------------------------------------------------------- base images

BASE_DESCRIPTION_FILE = "base.json"


def blob_path(digest: str) -> str:
    """Where the `base` verb writes a blob, relative to its output folder."""
    return f"blobs/sha256/{digest_hex(digest)}"


@dataclass(frozen=True)
class BaseFetch:
    """A base image to fetch for a build: a registry reference or an OCI layout folder."""

    reference: str | None = None  # a registry reference (tag or digest)
    layout: str | None = None  # or an OCI image layout folder (relative to the working directory)
    platforms: tuple[str, ...] = ()  # `os/arch[/variant]`, or `all`
    layers: bool = True  # False: manifests and configs only (`[ko].shallow_base_images`)
    cache_dir: str | None = None  # a content-addressed cache shared between runs
    insecure_registries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.reference is None) == (self.layout is None):
            raise MessageError("a base fetch names either a registry reference or a layout folder, not both")

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "layout": self.layout,
            "platforms": list(self.platforms),
            "layers": self.layers,
            "cache_dir": self.cache_dir,
            "insecure_registries": list(self.insecure_registries),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> BaseFetch:
        f = Fields(value, where)
        return cls(
            reference=f.str("reference", None),
            layout=f.str("layout", None),
            platforms=f.strs("platforms"),
            layers=f.bool("layers", True),
            cache_dir=f.str("cache_dir", None),
            insecure_registries=f.strs("insecure_registries"),
        )


@dataclass(frozen=True)
class BasePlatformImage:
    """One platform's image of a fetched base; its manifest, config and held layers are blobs."""

    platform: str
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    layers: tuple[str, ...]  # layer digests, in order

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "manifest_digest": self.manifest_digest,
            "manifest_media_type": self.manifest_media_type,
            "config_digest": self.config_digest,
            "layers": list(self.layers),
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> BasePlatformImage:
        f = Fields(value, where)
        return cls(
            platform=f.str("platform"),
            manifest_digest=f.str("manifest_digest"),
            manifest_media_type=f.str("manifest_media_type"),
            config_digest=f.str("config_digest"),
            layers=f.strs("layers"),
        )


@dataclass(frozen=True)
class BaseDescription:
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

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "name": self.name,
            "registry": self.registry,
            "repository": self.repository,
            "digest": self.digest,
            "media_type": self.media_type,
            "is_index": self.is_index,
            "images": [image.to_json() for image in self.images],
        }

    @classmethod
    def from_json(cls, value: Any, where: str) -> BaseDescription:
        f = Fields(value, where)
        return cls(
            reference=f.str("reference"),
            name=f.str("name"),
            registry=f.str("registry"),
            repository=f.str("repository"),
            digest=f.str("digest"),
            media_type=f.str("media_type"),
            is_index=f.bool("is_index"),
            images=f.objects("images", BasePlatformImage.from_json),
        )
