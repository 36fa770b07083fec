"""The messages of a load into the Docker daemon, across the process boundary.

`pants publish` (and `run`/`experimental-deploy` of `ko_manifests`) loads images in an
`InteractiveProcess` (never in a cached Process): the rule writes a `LoadRequest` as JSON, the
process (`python -m pants_backend_ko.oci.daemon load --request FILE --json-output FILE`) answers
with a `LoadOutcome`. Both sides use these classes' codecs; nothing reads the JSON back with
`.get()`. Layout paths are relative to the request file's folder. No Pants imports here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LoadOutcome", "LoadRequest", "LocalImage", "LocalResult", "LoadFailure"]


@dataclass(frozen=True)
class LocalImage:
    """One image to load: its OCI layout, ko's repository name for it, and its tags."""

    layout: Path
    repository: str  # e.g. "ko.local/server-<md5>"
    tags: tuple[str, ...] = ("latest",)
    what: str = ""  # the target address, for messages

    def to_json(self) -> dict[str, Any]:
        return {"layout": str(self.layout), "repository": self.repository, "tags": list(self.tags), "what": self.what}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, relative_to: Path | None = None) -> LocalImage:
        layout = Path(str(data["layout"]))
        if relative_to is not None and not layout.is_absolute():
            layout = relative_to / layout
        return cls(
            layout=layout,
            repository=str(data["repository"]),
            tags=tuple(str(t) for t in data["tags"]),
            what=str(data["what"]),
        )


@dataclass(frozen=True)
class LoadRequest:
    images: tuple[LocalImage, ...]
    goos: str = "linux"  # the platform loaded from an index (ko: $GOOS/$GOARCH)
    goarch: str = "amd64"

    def to_json(self) -> dict[str, Any]:
        return {"images": [i.to_json() for i in self.images], "goos": self.goos, "goarch": self.goarch}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, relative_to: Path | None = None) -> LoadRequest:
        return cls(
            images=tuple(LocalImage.from_json(i, relative_to=relative_to) for i in data["images"]),
            goos=str(data["goos"]),
            goarch=str(data["goarch"]),
        )


@dataclass(frozen=True)
class LocalResult:
    reference: str  # ko.local/<name>:<hex>, what ko prints and rendered YAML names
    image_id: str
    platform: str
    loaded: bool  # False: the daemon had the image already
    tags_added: tuple[str, ...]  # repository:tag names this run added (the reference included)
    what: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "image_id": self.image_id,
            "platform": self.platform,
            "loaded": self.loaded,
            "tags_added": list(self.tags_added),
            "what": self.what,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LocalResult:
        return cls(
            reference=str(data["reference"]),
            image_id=str(data["image_id"]),
            platform=str(data["platform"]),
            loaded=bool(data["loaded"]),
            tags_added=tuple(str(t) for t in data["tags_added"]),
            what=str(data["what"]),
        )


@dataclass(frozen=True)
class LoadFailure:
    what: str
    error: str  # one line

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadFailure:
        return cls(what=str(data["what"]), error=str(data["error"]))


@dataclass(frozen=True)
class LoadOutcome:
    results: tuple[LocalResult, ...]
    failures: tuple[LoadFailure, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"results": [r.to_json() for r in self.results], "failures": [f.to_json() for f in self.failures]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadOutcome:
        return cls(
            results=tuple(LocalResult.from_json(r) for r in data["results"]),
            failures=tuple(LoadFailure.from_json(f) for f in data["failures"]),
        )
