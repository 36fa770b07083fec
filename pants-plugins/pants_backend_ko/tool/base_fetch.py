"""The `base` verb: fetch a base image into a folder, for a build.

Writes `<out>/base.json` (the `BaseDescription`: what the base resolved to, per platform) and
`<out>/blobs/sha256/<hex>` for every manifest, config and (unless shallow) layer of the chosen
platforms, each verified against its digest by the registry client. The Pants rules run it in
a Process: cached forever for a digest reference, once per run for a tag, so a digest-pinned
base never touches the network again. `BaseFetch.cache_dir` is a content-addressed cache
shared between runs (children and layers by digest).

A `ko.local/...` base is read from the Docker daemon at `DOCKER_HOST`, as ko reads it
(`oci/daemon/image.py`): saved as an OCI layout in a temporary folder, then resolved like a
layout base, named by its reference (ko writes it as `org.opencontainers.image.base.name`).
The rules run that once per run: the daemon's image behind a name can change at any time.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from pants_backend_ko.codec import encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.daemon.client import DaemonClient
from pants_backend_ko.oci.daemon.image import save_image
from pants_backend_ko.oci.mediatypes import DOCKER_CONFIG, OCI_CONFIG
from pants_backend_ko.oci.reference import parse_reference
from pants_backend_ko.oci.remote.pull import ResolvedBase, fetch_blob, resolve_base, resolve_base_from_layout
from pants_backend_ko.oci.remote.transport import ClientPool
from pants_backend_ko.tool.messages import (
    BASE_DESCRIPTION_FILE,
    BaseDescription,
    BaseFetch,
    BasePlatformImage,
    blob_path,
)

IMAGE_CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)


def describe(base: ResolvedBase) -> BaseDescription:
    return BaseDescription(
        reference=base.reference,
        name=base.name,
        registry=base.registry,
        repository=base.repository,
        digest=base.digest,
        media_type=base.media_type,
        is_index=base.is_index,
        images=tuple(
            BasePlatformImage(
                platform=str(image.platform),
                manifest_digest=image.manifest_digest,
                manifest_media_type=image.manifest_media_type,
                config_digest=image.config_digest,
                layers=tuple(layer.digest for layer in image.layers),
            )
            for image in base.images
        ),
    )


def check_is_image(base: ResolvedBase) -> None:
    """A base must be a container image, not another OCI artifact (a Helm chart, an SBOM...)."""
    for image in base.images:
        if image.config_media_type not in IMAGE_CONFIG_TYPES:
            raise KoError(
                f"base image {base.reference} is not a container image (its config is {image.config_media_type})",
                fix="choose an image as the base",
            )


def _blob_file(out: Path, digest: str) -> Path:
    path = out / blob_path(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_base(base: ResolvedBase, out: Path, pool: ClientPool | None, cache_dir: str | None, layers: bool) -> None:
    check_is_image(base)
    out.mkdir(parents=True, exist_ok=True)
    if base.index_bytes is not None:
        _blob_file(out, base.digest).write_bytes(base.index_bytes)
    for image in base.images:
        _blob_file(out, image.manifest_digest).write_bytes(image.manifest_bytes)
        _blob_file(out, image.config_digest).write_bytes(image.config_bytes)
        for layer in image.layers if layers else ():
            dest = _blob_file(out, layer.digest)
            if dest.exists():
                continue
            if base.layout_dir:
                shutil.copyfile(Path(base.layout_dir, blob_path(layer.digest)), dest)
            else:
                assert pool is not None
                fetch_blob(
                    pool.get(base.registry),
                    base.repository,
                    layer.digest,
                    dest,
                    expected_size=layer.size,
                    cache=cache_dir,
                )
    (out / BASE_DESCRIPTION_FILE).write_bytes(encode(describe(base)))


def fetch_base(request: BaseFetch, out: Path, pool: ClientPool, daemon: DaemonClient | None = None) -> None:
    if request.daemon is not None:
        assert daemon is not None, "tool/main.py reaches the daemon for a daemon base"
        name = parse_reference(request.daemon).name
        with tempfile.TemporaryDirectory(prefix="ko-daemon-base-", dir=out.parent) as folder:
            layout = Path(folder) / "layout"
            save_image(daemon, request.daemon, layout)
            base = resolve_base_from_layout(layout, request.platforms)
            base = dataclasses.replace(base, reference=request.daemon, name=name)
            write_base(base, out, None, None, layers=True)  # copies the layers while the folder exists
        return
    if request.layout is not None:
        base = resolve_base_from_layout(request.layout, request.platforms)
    else:
        assert request.reference is not None
        base = resolve_base(request.reference, request.platforms, clients=pool, cache_dir=request.cache_dir)
    write_base(base, out, pool, request.cache_dir, layers=request.layers)
