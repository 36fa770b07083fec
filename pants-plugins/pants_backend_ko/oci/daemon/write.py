"""Load one image of an OCI layout into a Docker daemon, unless it is there already; tag it.

go-containerregistry's `pkg/v1/daemon/write.go` `Write(tag, img)`, which ko's `ko.local`
publisher calls: the image ID is the config digest; when the daemon already has an image with
that ID, it is only tagged (or left alone when it has the tag); otherwise the image is streamed
to `POST /images/load` as a docker archive tagged `tag`. `Tag` adds a tag to an image the daemon
has.

Beyond ggcr, so that nothing half-loaded is reported as loaded:

- the tag itself is looked up too: with containerd's image store (Docker 24+ option, default
  in new Docker 29 installations) the image ID is the manifest digest, not the config digest;
- the JSON messages of the load are read, and an error message fails the load (ggcr only
  returns them as text);
- after a load, the daemon must show the tag on an image with the expected ID.

No Pants imports here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pants_backend_ko.oci.daemon.archive import layout_archive
from pants_backend_ko.oci.daemon.client import DaemonClient, DaemonError, ImageInspect
from pants_backend_ko.oci.layout import OciLayout
from pants_backend_ko.oci.manifest import Descriptor

__all__ = ["WriteResult", "split_tag", "tag_image", "write_image"]


@dataclass(frozen=True)
class WriteResult:
    image_id: str  # as the daemon reports it
    loaded: bool  # False: the daemon had the image already (at most tags were added)
    tagged: tuple[str, ...]  # "repo:tag" names added with POST /images/{id}/tag


def split_tag(name: str) -> tuple[str, str]:
    """`("ko.local/app", "v1")` for `"ko.local/app:v1"` (the colon after the last slash)."""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag or not repository:
        raise ValueError(f"{name!r} is not repository:tag")
    return repository, tag


def tag_image(client: DaemonClient, source: str, name: str) -> None:
    """ggcr's `daemon.Tag`: tag the image `source` (an ID or name) as `name` (`repo:tag`)."""
    repository, tag = split_tag(name)
    client.tag_image(source, repository, tag)


def _matches(found: ImageInspect | None, ids: Sequence[str]) -> bool:
    return found is not None and found.id in ids


def write_image(client: DaemonClient, layout: OciLayout, image: Descriptor, name: str) -> WriteResult:
    """ggcr's `daemon.Write(name, image)` for the image manifest `image` of `layout`.

    `name` is `repository:tag`. Returns what was done; raises `DaemonError` (one line) when the
    daemon refuses, and `ValueError` when the layout cannot be archived.
    """
    manifest = layout.image_manifest(image.digest)
    config_digest = manifest.config.digest
    ids = (config_digest, image.digest)  # classic image store, containerd image store
    by_id = client.inspect_image(config_digest)
    if by_id is not None:
        if name in by_id.repo_tags:
            return WriteResult(by_id.id, loaded=False, tagged=())
        tag_image(client, by_id.id, name)
        return WriteResult(by_id.id, loaded=False, tagged=(name,))
    by_name = client.inspect_image(name)
    if _matches(by_name, ids):
        assert by_name is not None
        return WriteResult(by_name.id, loaded=False, tagged=())

    archive = layout_archive(layout, image, [name])  # checks the layout before anything is sent
    client.load(archive, what=f"loading {name}")
    after = client.inspect_image(name)
    if not _matches(after, ids):
        shown = "no such image" if after is None else f"an image with ID {after.id}"
        raise DaemonError(
            f"the Docker daemon at {client.address.shown} accepted {name} but then shows {shown} under that name, "
            f"not the image with config {config_digest}; the load is not done, run again"
        )
    assert after is not None
    return WriteResult(after.id, loaded=True, tagged=())
