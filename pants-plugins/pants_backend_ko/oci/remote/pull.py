"""Pulling: manifests, base-image resolution, blob downloads and a digest-addressed cache.

* :func:`get_manifest` sends the full ``Accept`` list, rejects schema 1 and
  Content-Type/body disagreements, and verifies the digest (always against the
  reference's digest when pulled by digest, and against ``Docker-Content-Digest``).
* :func:`resolve_base` picks the per-platform images of a base the way ko does
  (ko's ``buildAll`` in ``pkg/build/gobuild.go``) and returns their manifest and config bytes (both
  verified) and layer descriptors. Base layers are never downloaded: the pusher
  mounts or streams them.
* :func:`fetch_blob` streams a blob to disk through a temporary file, verifies
  digest and size, and only then renames it into place.
* :class:`ContentCache` stores verified manifests/configs/blobs under
  ``<cache_dir>/blobs/sha256/<hex>``, written atomically (temp + rename), so a
  digest-pinned base needs no network and a tag costs one manifest request.
* :func:`resolve_base_from_layout` does the same from an OCI layout directory
  (air-gapped use).

No Pants imports.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pants_backend_ko.oci.digest import check_digest, digest_hex, digest_of
from pants_backend_ko.oci.layout import LAYOUT_PREFIX, OciLayout, read_layout
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES
from pants_backend_ko.oci.platform import Platform
from pants_backend_ko.oci.reference import Reference, digest_reference, parse_reference
from pants_backend_ko.oci.remote.credentials import Keychain
from pants_backend_ko.oci.remote.descriptors import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST_BYTES,
    descriptor_from_json,
    manifest_media_type,
    parse_manifest_json,
)
from pants_backend_ko.oci.remote.errors import DigestMismatchError, RegistryError
from pants_backend_ko.oci.remote.limits import iter_body, read_body
from pants_backend_ko.oci.remote.transport import ClientPool, RegistryClient

logger = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


# ------------------------------------------------------------------ the cache


class ContentCache:
    """Verified content addressed by digest: ``<root>/blobs/sha256/<hex>``.

    Files are only ever created by renaming a fully written and verified
    temporary file, so a reader never sees partial or unverified content.
    Reads re-verify small files and drop any that do not match.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        check_digest(digest, "cache")
        return self.root / "blobs" / "sha256" / digest_hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def get_bytes(self, digest: str, *, max_size: int = MAX_CONFIG_BYTES) -> bytes | None:
        path = self.path(digest)
        try:
            if path.stat().st_size > max_size:
                return None
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if digest_of(data) != digest:
            logger.warning("cache entry %s is corrupt; dropping it", path)
            path.unlink(missing_ok=True)
            return None
        return data

    def put_bytes(self, digest: str, data: bytes) -> None:
        if digest_of(data) != digest:
            raise ValueError(f"refusing to cache content under {digest}: it hashes to {digest_of(data)}")
        path = self.path(digest)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            _remove_quietly(tmp)
            raise

    def put_verified_file(self, digest: str, source: Path) -> None:
        """Copy an already verified file into the cache (hard link when possible)."""
        path = self.path(digest)
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".tmp-{os.getpid()}-{digest_hex(digest)[:12]}-{id(source)}"
        try:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, path)
        except BaseException:
            _remove_quietly(str(tmp))
            raise


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _as_cache(cache: None | str | os.PathLike | ContentCache) -> ContentCache | None:
    if cache is None or isinstance(cache, ContentCache):
        return cache
    return ContentCache(cache)


# ------------------------------------------------------------------ manifests


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest or index exactly as stored: media type, bytes and sha256 digest.

    Unpacks as ``media_type, data, digest``.
    """

    media_type: str
    data: bytes
    digest: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.media_type, self.data, self.digest))

    def json(self) -> dict[str, Any]:
        return parse_manifest_json(self.data, self.digest)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _repo_path(repository: str) -> str:
    return repository.strip("/")


def open_blob(client: RegistryClient, repository: str, digest: str) -> Any:
    """GET a blob, body unread (the client follows the redirect to storage many registries answer with)."""
    repo = _repo_path(repository)
    return client.request("GET", f"/v2/{repo}/blobs/{digest}", scopes=[f"repository:{repo}:pull"])


def get_manifest(
    client: RegistryClient,
    repository: str,
    reference: str,
    *,
    cache: None | str | os.PathLike | ContentCache = None,
) -> FetchedManifest:
    """``GET /v2/<repository>/manifests/<reference>`` (a tag or a digest), verified.

    With a cache, a digest reference already in the cache costs no request.
    """
    cache = _as_cache(cache)
    by_digest = reference.startswith("sha256:")
    where = f"registry {client.registry}: manifest {_repo_path(repository)}{'@' if by_digest else ':'}{reference}"
    if by_digest:
        check_digest(reference, where)
        if cache is not None:
            data = cache.get_bytes(reference, max_size=MAX_MANIFEST_BYTES)
            if data is not None:
                return FetchedManifest(manifest_media_type(data, None, where), data, reference)
    resp = client.request(
        "GET",
        f"/v2/{_repo_path(repository)}/manifests/{reference}",
        scopes=[f"repository:{_repo_path(repository)}:pull"],
        headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
    )
    with resp:
        data = read_body(resp, MAX_MANIFEST_BYTES, where=where, what="manifest")
        content_type = resp.headers.get("Content-Type", "")
        header_digest = resp.headers.get("Docker-Content-Digest", "")
    digest = digest_of(data)
    if by_digest and digest != reference:
        raise DigestMismatchError(
            f"{where}: the registry sent content that hashes to {digest}; refusing it (the registry or a proxy altered it)",
            registry=client.registry,
        )
    if header_digest.startswith("sha256:") and header_digest != digest:
        raise DigestMismatchError(
            f"{where}: Docker-Content-Digest says {header_digest} but the content hashes to {digest}; refusing it",
            registry=client.registry,
        )
    try:
        media_type = manifest_media_type(data, content_type, where)
    except ValueError as e:
        raise RegistryError(str(e), registry=client.registry) from None
    if cache is not None:
        cache.put_bytes(digest, data)
    return FetchedManifest(media_type, data, digest)


def manifest_digest_at(
    client: RegistryClient, repository: str, reference: str, *, scopes: Sequence[str] | None = None
) -> str | None:
    """``HEAD /v2/<repository>/manifests/<reference>`` (a tag or a digest): the digest it points
    at, None when the registry does not have it, "" when a tag exists but the answer names no
    digest. ``scopes`` default to pulling ``repository`` (a pusher passes its push scopes, so
    one token serves both)."""
    repo = _repo_path(repository)
    resp = client.request(
        "HEAD",
        f"/v2/{repo}/manifests/{reference}",
        scopes=list(scopes) if scopes is not None else [f"repository:{repo}:pull"],
        headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        expected=(200, 404),
    )
    resp.close()
    if resp.status_code != 200:
        return None
    return resp.headers.get("Docker-Content-Digest") or ("" if not reference.startswith("sha256:") else reference)


def get_small_blob(
    client: RegistryClient,
    repository: str,
    digest: str,
    *,
    expected_size: int | None = None,
    cache: None | str | os.PathLike | ContentCache = None,
    max_size: int = MAX_CONFIG_BYTES,
) -> bytes:
    """Download a small blob (an image config) into memory and verify it; cached by digest."""
    cache = _as_cache(cache)
    where = f"registry {client.registry}: blob {_repo_path(repository)}@{digest}"
    check_digest(digest, where)
    if cache is not None:
        data = cache.get_bytes(digest, max_size=max_size)
        if data is not None:
            return data
    resp = open_blob(client, repository, digest)
    with resp:
        data = read_body(resp, max_size, where=where, what="config blob")
    actual = digest_of(data)
    if actual != digest or (expected_size is not None and len(data) != expected_size):
        raise DigestMismatchError(
            f"{where}: the content hashes to {actual} ({len(data)} bytes); refusing it and not caching it",
            registry=client.registry,
        )
    if cache is not None:
        cache.put_bytes(digest, data)
    return data


# ---------------------------------------------------------------------- blobs


def fetch_blob(
    client: RegistryClient,
    repository: str,
    digest: str,
    dest_path: str | os.PathLike,
    *,
    expected_size: int | None = None,
    cache: None | str | os.PathLike | ContentCache = None,
) -> Path:
    """Stream a blob to ``dest_path``; it appears there only once verified.

    The bytes go to a temporary file next to ``dest_path`` while being hashed;
    on a digest or size mismatch (or any error) the temporary file is removed and
    nothing is written or cached. With a cache, a cached blob is copied instead.
    """
    cache = _as_cache(cache)
    dest = Path(dest_path)
    where = f"registry {client.registry}: blob {_repo_path(repository)}@{digest}"
    check_digest(digest, where)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if cache is not None and cache.has(digest):
        _atomic_copy(cache.path(digest), dest, digest, where)
        return dest
    resp = open_blob(client, repository, digest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.partial-")
    try:
        hasher = hashlib.sha256()
        size = 0
        with resp, os.fdopen(fd, "wb") as out:
            for chunk in iter_body(resp, where=where):
                size += len(chunk)
                if expected_size is not None and size > expected_size:
                    raise DigestMismatchError(
                        f"{where}: the registry sent more than the expected {expected_size} bytes; refusing it",
                        registry=client.registry,
                    )
                hasher.update(chunk)
                out.write(chunk)
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest or (expected_size is not None and size != expected_size):
            raise DigestMismatchError(
                f"{where}: the downloaded content hashes to {actual} ({size} bytes); refusing it and not caching it",
                registry=client.registry,
            )
        os.replace(tmp, dest)
    except BaseException:
        _remove_quietly(tmp)
        raise
    if cache is not None:
        cache.put_verified_file(digest, dest)
    return dest


def _atomic_copy(source: Path, dest: Path, digest: str, where: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.partial-")
    try:
        hasher = hashlib.sha256()
        with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                hasher.update(chunk)
                out.write(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            _remove_quietly(str(source))  # a corrupt cache entry must not be served again
            raise DigestMismatchError(f"{where}: the cached copy is corrupt and was removed; run again to download it")
        os.replace(tmp, dest)
    except BaseException:
        _remove_quietly(tmp)
        raise


# -------------------------------------------------------------- base images


@dataclass(frozen=True)
class PulledBaseImage:
    """One platform's image of a base: manifest and config bytes (verified) and layers."""

    platform: Platform
    manifest_media_type: str
    manifest_bytes: bytes
    manifest_digest: str
    config_media_type: str
    config_bytes: bytes
    config_digest: str
    layers: tuple[Descriptor, ...]
    # The base index entry this image came from (annotations/urls/platform), None for a single image.
    index_descriptor: Descriptor | None = None

    def manifest(self) -> dict[str, Any]:
        return parse_manifest_json(self.manifest_bytes, self.manifest_digest)

    def config(self) -> dict[str, Any]:
        return parse_manifest_json(self.config_bytes, self.config_digest)


@dataclass(frozen=True)
class ResolvedBase:
    """A base image reference resolved for a set of platforms.

    ``images`` are in base-index order (ko's output order). ``index_bytes`` is
    set when the base is an index. ``registry``/``repository`` are empty and
    ``layout_dir`` is set when the base came from an OCI layout directory.
    """

    reference: str
    name: str
    registry: str
    repository: str
    digest: str
    media_type: str
    index_bytes: bytes | None
    images: tuple[PulledBaseImage, ...]
    layout_dir: str | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def digest_reference(self) -> str:
        """``registry/repository@sha256:...`` (what ko logs as "Using base ...")."""
        if self.layout_dir:
            return f"{LAYOUT_PREFIX}{self.layout_dir}@{self.digest}"
        return digest_reference(f"{self.registry}/{self.repository}", self.digest)

    def blob_sources(self) -> dict[str, tuple[str, str]]:
        """Where each base blob (layers and configs) can be mounted or streamed from."""
        if self.layout_dir:
            return {}
        out: dict[str, tuple[str, str]] = {}
        for image in self.images:
            out[image.config_digest] = (self.registry, self.repository)
            for layer in image.layers:
                out[layer.digest] = (self.registry, self.repository)
        return out


def parse_platforms(platforms: Sequence[str]) -> list[Platform] | None:
    """Parse requested platforms; None means ``all``. ``all`` cannot be combined."""
    items = [p.strip() for p in platforms if p and p.strip()]
    if not items:
        return [Platform("linux", "amd64")]  # ko's default, whatever the host
    if "all" in items:
        if len(items) > 1:
            raise ValueError(f"platform 'all' cannot be combined with other platforms (got {', '.join(items)})")
        return None
    return [Platform.parse(p, pattern=True) for p in items]


def _platform_list(wanted: list[Platform] | None) -> str:
    return "all" if wanted is None else ", ".join(str(p) for p in wanted)


def _select_children(
    ref_text: str, index_doc: dict[str, Any], where: str, wanted: list[Platform] | None
) -> list[Descriptor]:
    entries = index_doc.get("manifests")
    if not isinstance(entries, list):
        raise ValueError(f"{where}: the index has no 'manifests' list")
    children: list[Descriptor] = []
    for i, entry in enumerate(entries):
        desc = descriptor_from_json(entry, f"{where}: manifests[{i}]")
        if desc.media_type in INDEX_TYPES:
            raise ValueError(
                f"base image {ref_text} is an index that contains another index ({desc.digest}); "
                "nested indexes are not supported as bases, pick a child index by digest"
            )
        if desc.media_type not in IMAGE_MANIFEST_TYPES:
            continue  # artifacts (attestations, signatures) are not images
        if desc.platform is not None and desc.platform.is_unknown:
            continue  # Docker attestation manifests
        children.append(desc)
    if wanted is None:
        chosen = [d for d in children if d.platform is not None]
    else:
        chosen = [d for d in children if d.platform is not None and any(w.matches(d.platform) for w in wanted)]
        missing = [w for w in wanted if not any(d.platform is not None and w.matches(d.platform) for d in children)]
        if missing:
            available = ", ".join(str(d.platform) for d in children if d.platform is not None) or "none"
            raise ValueError(
                f"base image {ref_text} has no image for {_platform_list(missing)} (it has {available}); "
                "choose another base or other platforms"
            )
    if not chosen:
        raise ValueError(f"base image {ref_text} has no image with a platform; choose another base")
    return chosen


def _layers_of(manifest_doc: dict[str, Any], where: str) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    config = descriptor_from_json(manifest_doc.get("config"), f"{where}: config")
    layers = manifest_doc.get("layers")
    if not isinstance(layers, list):
        raise ValueError(f"{where}: the manifest has no 'layers' list")
    return config, tuple(descriptor_from_json(layer, f"{where}: layers[{i}]") for i, layer in enumerate(layers))


def _config_platform(config_bytes: bytes, where: str) -> Platform:
    doc = parse_manifest_json(config_bytes, where)
    return Platform(
        str(doc.get("os") or "linux"),
        str(doc.get("architecture") or "amd64"),
        str(doc.get("variant") or "") or None,
        str(doc.get("os.version") or "") or None,
    )


class _Source:
    """Fetch manifests and configs from a registry or from a layout, uniformly."""

    def __init__(
        self,
        *,
        client: RegistryClient | None = None,
        repository: str = "",
        cache: ContentCache | None = None,
        layout: OciLayout | None = None,
    ) -> None:
        self.client, self.repository, self.cache, self.layout = client, repository, cache, layout

    def manifest(self, digest: str, declared: str, where: str) -> bytes:
        if self.layout is not None:
            data = self.layout.read_blob(digest, max_size=MAX_MANIFEST_BYTES)
            manifest_media_type(data, declared, where)
            return data
        assert self.client is not None
        fetched = get_manifest(self.client, self.repository, digest, cache=self.cache)
        if fetched.media_type != declared:
            raise ValueError(f"{where}: the index says {declared} but the manifest is {fetched.media_type}")
        return fetched.data

    def config(self, desc: Descriptor, where: str) -> bytes:
        if self.layout is not None:
            data = self.layout.read_blob(desc.digest, max_size=MAX_CONFIG_BYTES)
        else:
            assert self.client is not None
            data = get_small_blob(self.client, self.repository, desc.digest, expected_size=desc.size, cache=self.cache)
        if len(data) != desc.size:
            raise ValueError(f"{where}: config {desc.digest} is {len(data)} bytes, the manifest says {desc.size}")
        return data


def _build_image(
    source: _Source, ref_text: str, media_type: str, data: bytes, digest: str, index_desc: Descriptor | None
) -> PulledBaseImage:
    where = f"base image {ref_text} manifest {digest}"
    doc = parse_manifest_json(data, where)
    config_desc, layers = _layers_of(doc, where)
    config_bytes = source.config(config_desc, where)
    platform = (
        index_desc.platform
        if index_desc is not None and index_desc.platform is not None
        else _config_platform(config_bytes, where)
    )
    return PulledBaseImage(
        platform=platform,
        manifest_media_type=media_type,
        manifest_bytes=data,
        manifest_digest=digest,
        config_media_type=config_desc.media_type,
        config_bytes=config_bytes,
        config_digest=config_desc.digest,
        layers=layers,
        index_descriptor=index_desc,
    )


def _resolve(
    source: _Source, ref_text: str, top: FetchedManifest, wanted: list[Platform] | None
) -> tuple[bytes | None, tuple[PulledBaseImage, ...]]:
    if top.is_index:
        children = _select_children(ref_text, top.json(), f"base image {ref_text}", wanted)
        images = []
        for child in children:
            data = source.manifest(child.digest, child.media_type, f"base image {ref_text} child {child.digest}")
            images.append(_build_image(source, ref_text, child.media_type, data, child.digest, child))
        return top.data, tuple(images)
    image = _build_image(source, ref_text, top.media_type, top.data, top.digest, None)
    if wanted is not None and not any(w.matches(image.platform) for w in wanted):
        raise ValueError(
            f"base image {ref_text} ({image.platform}) does not match desired platforms {_platform_list(wanted)}; "
            "choose a base for those platforms or change the platforms"
        )
    return None, (image,)


def resolve_base(
    ref: str,
    platforms: Sequence[str],
    *,
    clients: ClientPool | None = None,
    keychain: Keychain | None = None,
    insecure_registries: Iterable[str] = (),
    ca_bundle: str | None = None,
    cache_dir: None | str | os.PathLike = None,
) -> ResolvedBase:
    """Resolve a base image reference for ``platforms`` (``["linux/amd64"]``, ``["all"]``, ...).

    ``ref`` is an image reference, or ``oci-layout:<dir>`` for an OCI layout
    directory. A reference by digest whose manifests and configs are in
    ``cache_dir`` needs no network; a tag costs one manifest request (children
    and configs come from the cache by digest).
    """
    if ref.startswith(LAYOUT_PREFIX):
        return resolve_base_from_layout(ref[len(LAYOUT_PREFIX) :], platforms)
    wanted = parse_platforms(platforms)
    parsed: Reference = parse_reference(ref)
    cache = _as_cache(cache_dir)
    own_pool = clients is None
    pool = clients or ClientPool(keychain=keychain, insecure_registries=insecure_registries, ca_bundle=ca_bundle)
    try:
        client = pool.get(parsed.registry)
        top = get_manifest(client, parsed.repository, parsed.identifier, cache=cache)
        source = _Source(client=client, repository=parsed.repository, cache=cache)
        index_bytes, images = _resolve(source, ref, top, wanted)
    finally:
        if own_pool:
            pool.close()
    return ResolvedBase(
        reference=ref,
        name=parsed.name,
        registry=parsed.registry,
        repository=parsed.repository,
        digest=top.digest,
        media_type=top.media_type,
        index_bytes=index_bytes,
        images=images,
    )


def resolve_base_from_layout(
    layout_dir: str | os.PathLike, platforms: Sequence[str], *, ref_name: str | None = None
) -> ResolvedBase:
    """Resolve a base from an OCI image layout directory (no network at all)."""
    wanted = parse_platforms(platforms)
    layout = read_layout(layout_dir)
    root = layout.top(ref_name)
    data = layout.read_blob(root.digest, max_size=MAX_MANIFEST_BYTES)
    ref_text = f"{LAYOUT_PREFIX}{layout.root}" + (f" ({ref_name})" if ref_name else "")
    media_type = manifest_media_type(data, root.media_type, f"base image {ref_text}")
    top = FetchedManifest(media_type, data, root.digest)
    index_bytes, images = _resolve(_Source(layout=layout), ref_text, top, wanted)
    return ResolvedBase(
        reference=ref_text,
        name=ref_text,
        registry="",
        repository="",
        digest=root.digest,
        media_type=media_type,
        index_bytes=index_bytes,
        images=images,
        layout_dir=str(layout.root),
    )
