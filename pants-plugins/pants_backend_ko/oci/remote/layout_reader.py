"""Read-only access to an OCI image layout directory, for pushing and for air-gapped bases.

A layout is ``oci-layout`` + ``index.json`` + ``blobs/sha256/<hex>``
(registry-protocol.md §4). The image to use is the single descriptor of
``index.json``, or the one whose ``org.opencontainers.image.ref.name``
annotation equals ``ref_name``. That descriptor may itself point at an image
index (the nested "rules_oci" shape), a manifest or an index. No Pants imports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

from pants_backend_ko.oci.model import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.remote.descriptors import MANIFEST_MEDIA_TYPES, MAX_MANIFEST_BYTES, Descriptor

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"


class LayoutError(ValueError):
    """The layout directory is missing something or holds inconsistent content."""


class LayoutReader:
    def __init__(self, root: os.PathLike) -> None:
        self.root = Path(root)
        where = f"OCI layout {self.root}"
        marker = self.root / "oci-layout"
        if not self.root.is_dir():
            raise LayoutError(f"{where}: not a directory; pass the directory that holds oci-layout and index.json")
        try:
            version = json.loads(marker.read_bytes()).get("imageLayoutVersion")
        except FileNotFoundError:
            raise LayoutError(f"{where}: no oci-layout file; this is not an OCI image layout") from None
        except (ValueError, AttributeError):
            raise LayoutError(f"{where}: oci-layout is not the JSON object {{\"imageLayoutVersion\": \"1.0.0\"}}") from None
        if version != "1.0.0":
            raise LayoutError(f"{where}: unsupported imageLayoutVersion {version!r} (expected 1.0.0)")
        try:
            index = json.loads((self.root / "index.json").read_bytes())
        except FileNotFoundError:
            raise LayoutError(f"{where}: no index.json") from None
        except ValueError:
            raise LayoutError(f"{where}: index.json is not valid JSON") from None
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(manifests, list):
            raise LayoutError(f"{where}: index.json has no 'manifests' list")
        try:
            self.descriptors: List[Descriptor] = [
                Descriptor.from_json(d, f"{where}: index.json manifests[{i}]") for i, d in enumerate(manifests)
            ]
        except ValueError as e:
            raise LayoutError(str(e)) from None
        self.where = where

    def root_descriptor(self, ref_name: Optional[str] = None) -> Descriptor:
        """The image to use: the only entry, or the entry tagged ``ref_name``."""
        if ref_name is not None:
            matches = [d for d in self.descriptors if d.annotation(REF_NAME_ANNOTATION) == ref_name]
            if len(matches) != 1:
                names = sorted({d.annotation(REF_NAME_ANNOTATION) or "(unnamed)" for d in self.descriptors})
                raise LayoutError(
                    f"{self.where}: {'no' if not matches else 'more than one'} image named {ref_name!r} in index.json "
                    f"(names: {', '.join(names) or 'none'})"
                )
            chosen = matches[0]
        elif len(self.descriptors) == 1:
            chosen = self.descriptors[0]
        else:
            names = sorted({d.annotation(REF_NAME_ANNOTATION) or "(unnamed)" for d in self.descriptors})
            raise LayoutError(
                f"{self.where}: index.json lists {len(self.descriptors)} images; choose one by its ref name "
                f"(names: {', '.join(names) or 'none'})"
            )
        if chosen.media_type not in MANIFEST_MEDIA_TYPES:
            raise LayoutError(f"{self.where}: index.json entry {chosen.digest} has unsupported media type {chosen.media_type}")
        return chosen

    def blob_path(self, digest: str) -> Path:
        check_digest(digest, self.where)
        return self.root / "blobs" / "sha256" / digest_hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str, *, max_size: int = MAX_MANIFEST_BYTES) -> bytes:
        """Read a small blob (manifest, index, config) and verify its digest."""
        path = self.blob_path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise LayoutError(f"{self.where}: blob {digest} is missing (expected at {path})") from None
        if size > max_size:
            raise LayoutError(f"{self.where}: blob {digest} is {size} bytes, larger than the {max_size}-byte limit for manifests")
        data = path.read_bytes()
        actual = digest_of(data)
        if actual != digest:
            raise LayoutError(f"{self.where}: blob {path.name} hashes to {actual}, not {digest}; the layout is corrupt")
        return data
