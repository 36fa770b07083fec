"""Read an image from a Docker daemon into an OCI layout: ko's `ko.local/...` base images.

ko reads a base image whose registry is `ko.local` from the daemon (ko `pkg/commands/config.go`
`getBaseImage`: `daemon.Image(ref)`), through go-containerregistry's `pkg/v1/daemon/image.go`:
the image must exist (its ID is asked for at once, `ImageInspect`), and its manifest, config
and layers come from `docker save` (`ImageSave`, read by `pkg/v1/tarball`). We do the same and
keep the result as an OCI layout folder, which the base-image resolver already reads
(`oci-layout:<dir>`, `pants_backend_ko.oci.remote.pull.resolve_base_from_layout`).

The daemon holds one platform per name, so the base is a single image: ko then builds only
that platform. No Pants imports here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pants_backend_ko.oci.daemon.archive import SavedImage, layout_from_archive
from pants_backend_ko.oci.daemon.client import DaemonClient, DaemonError

__all__ = ["save_image"]


def save_image(client: DaemonClient, ref: str, out: Path) -> SavedImage:
    """Write the daemon's image `ref` as a new OCI layout folder `out`."""
    found = client.inspect_image(ref)
    if found is None:
        raise DaemonError(
            f"the Docker daemon at {client.address.shown} has no image {ref}; load or build it there first "
            "(`docker image ls` lists what it has)"
        )
    with client.save(ref) as stream:
        saved = layout_from_archive(stream, out, ref=ref, where=f"the image {ref} exported by {client.address.shown}")
    if found.diff_ids and tuple(found.diff_ids) != saved.diff_ids:
        shutil.rmtree(out, ignore_errors=True)
        raise DaemonError(
            f"the Docker daemon at {client.address.shown} exported {ref} with other layers than it lists for it "
            "(did the tag move while it was read?); run again"
        )
    return saved
