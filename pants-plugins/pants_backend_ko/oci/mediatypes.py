"""The media types of images, manifests, indexes, configs and layers (ggcr's `pkg/v1/types`).

ko types what it builds after the base: OCI media types for an OCI base (and for scratch),
Docker schema 2 ones for a Docker base. No Pants imports.
"""

from __future__ import annotations

__all__ = [
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "OCI_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "IMAGE_MANIFEST_TYPES",
    "INDEX_TYPES",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
