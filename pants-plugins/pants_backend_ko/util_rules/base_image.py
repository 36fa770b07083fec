"""Base images: `scratch`, a registry reference, or an OCI layout folder in the repository."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.rules import collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.model import BaseImage
from pants_backend_ko.oci.platform import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class BaseImageRequest:
    reference: str
    platforms: tuple[Platform, ...]
    owner: str  # the target address, for messages


@dataclass(frozen=True)
class ResolvedBaseImage:
    """The base narrowed to the requested platforms, in the order the output lists them."""

    reference: str
    platforms: tuple[Platform, ...]
    images: tuple[BaseImage, ...]  # one per platform
    is_index: bool  # ko: exactly one match gives an image, several give an index
    index_media_type: str
    index_digest: str | None  # the base index's digest, for the base.digest annotation
    blobs: FrozenDict[str, bytes]  # base layers that the layout must carry, by digest

    def index_annotations(self, user_annotations: dict[str, str]) -> dict[str, str]:
        annotations = dict(user_annotations)
        if self.index_digest:
            annotations["org.opencontainers.image.base.digest"] = self.index_digest
            annotations["org.opencontainers.image.base.name"] = self.reference
        return annotations


@rule(desc="Resolve the base image", level=LogLevel.DEBUG)
async def resolve_base_image(request: BaseImageRequest) -> ResolvedBaseImage:
    if request.reference == "scratch":
        return ResolvedBaseImage(
            reference="scratch",
            platforms=request.platforms,
            images=tuple(BaseImage.scratch(p) for p in request.platforms),
            is_index=len(request.platforms) > 1,
            index_media_type=OCI_INDEX,
            index_digest=None,
            blobs=FrozenDict(),
        )
    raise KoError(
        f"{request.owner}: base image {request.reference!r}: only `scratch` is supported so far; "
        "set `base_image=\"scratch\"` or `[ko].default_base_image = \"scratch\"`."
    )


def rules():
    return collect_rules()
