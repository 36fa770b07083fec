"""Pushing an OCI image layout to a registry, byte for byte.

Order (a registry may refuse a manifest whose blobs, or an index whose manifests, it does not have
yet: `MANIFEST_BLOB_UNKNOWN` in opencontainers/distribution-spec `spec.md`; go-containerregistry's
`pkg/v1/remote/write.go` pushes in the same order), enforced by the structure of
:func:`push_layout` rather than by callers:

1. ``HEAD`` the root manifest/index by digest: if the registry has it, it has
   everything it references, so only tags remain to be done.
2. All blobs (configs and layers), in parallel on a bounded thread pool:
   ``HEAD`` (skip if present), else a cross-repository mount when a source
   repository on the same registry is known (``mount=&from=``; 202 falls back
   to an upload on the returned location), else ``POST`` + streamed ``PUT``
   from the file, or chunked ``PATCH``es when the registry asks for them with
   ``OCI-Chunk-Min-Length``. Blobs referenced by a manifest but absent from the
   layout (base layers) come from ``mount_sources``/``blob_sources``: mounted
   when on the same registry, else streamed from the base registry, and never
   fetched when the target already has them.
3. Child manifests by digest, then the index by digest (post-order).
4. Each tag with its own ``PUT`` of the same bytes, skipped when a ``HEAD`` of
   the tag already answers the same digest.

Every ``PUT`` answer's ``Docker-Content-Digest`` is compared with the digest
of the bytes sent. No Pants imports.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.layout import LayoutError, OciLayout, read_layout
from pants_backend_ko.oci.manifest import Descriptor
from pants_backend_ko.oci.mediatypes import INDEX_TYPES
from pants_backend_ko.oci.reference import (
    digest_reference,
    is_valid_tag,
    looks_like_registry,
    normalize_registry,
    parse_repository,
)
from pants_backend_ko.oci.remote.descriptors import (
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    descriptor_from_json,
    manifest_media_type,
    parse_manifest_json,
)
from pants_backend_ko.oci.remote.errors import DigestMismatchError, RegistryError
from pants_backend_ko.oci.remote.limits import iter_body
from pants_backend_ko.oci.remote.pull import manifest_digest_at, open_blob
from pants_backend_ko.oci.remote.transport import RegistryClient

logger = logging.getLogger(__name__)

_MIN_CHUNK = 1024 * 1024
_READ_BLOCK = 1024 * 1024
_MAX_RANGE_RESUMES = 3
_UPLOAD_SESSIONS = 3  # upload sessions tried per blob when the registry loses one
_OK_PUT = tuple(range(200, 300))

UPLOADED = "uploaded"
MOUNTED = "mounted"
SKIPPED = "skipped"


@dataclass(frozen=True)
class PushResult:
    """What :func:`push_layout` did. Counts let callers (and tests) see skips and mounts."""

    repository: str  # registry/repository
    digest: str  # the root manifest or index
    media_type: str
    tags: tuple[str, ...]
    blobs_uploaded: int
    blobs_mounted: int
    blobs_skipped: int
    bytes_uploaded: int
    manifests_pushed: int
    manifests_skipped: int
    tags_pushed: int
    tags_skipped: int

    @property
    def reference(self) -> str:
        """``registry/repository@sha256:<hex>``."""
        return digest_reference(self.repository, self.digest)

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "digest": self.digest,
            "reference": self.reference,
            "media_type": self.media_type,
            "tags": list(self.tags),
            "blobs": {"uploaded": self.blobs_uploaded, "mounted": self.blobs_mounted, "skipped": self.blobs_skipped},
            "bytes_uploaded": self.bytes_uploaded,
            "manifests": {"pushed": self.manifests_pushed, "skipped": self.manifests_skipped},
            "tag_pushes": {"pushed": self.tags_pushed, "skipped": self.tags_skipped},
        }


@dataclass(frozen=True)
class _Manifest:
    digest: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class _Blob:
    descriptor: Descriptor
    path: Path | None  # the layout file, when the layout has it
    source: tuple[str, str] | None  # (registry, repository) it can be mounted or streamed from


@dataclass
class _Counts:
    lock: threading.Lock = field(default_factory=threading.Lock)
    uploaded: int = 0
    mounted: int = 0
    skipped: int = 0
    bytes_uploaded: int = 0

    def add(self, outcome: str, nbytes: int = 0) -> None:
        with self.lock:
            if outcome == UPLOADED:
                self.uploaded += 1
                self.bytes_uploaded += nbytes
            elif outcome == MOUNTED:
                self.mounted += 1
            else:
                self.skipped += 1


class _SourceStream:
    """A blob streamed from another registry, readable by ``requests`` as a sized body.

    Read through the bounded reader of :mod:`.limits`: the source registry's own stalls and
    slowness are judged on its own clock, not blamed on the registry being pushed to.
    """

    def __init__(self, resp: Any, size: int, where: str) -> None:
        self._resp = resp
        self._chunks = iter_body(resp, where=where)
        self._buffer = b""
        self.len = size

    def __len__(self) -> int:
        return self.len

    def read(self, amt: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = next(self._chunks, b"")
        size = amt if amt and amt > 0 else _READ_BLOCK
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    def close(self) -> None:
        self._resp.close()


def _normalize_sources(
    target_registry: str,
    mount_sources: Mapping[str, str] | None,
    blob_sources: Mapping[str, tuple[str, str]] | None,
) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for digest, (registry, repository) in (blob_sources or {}).items():
        out[digest] = (normalize_registry(registry), repository.strip("/"))
    for digest, repo in (mount_sources or {}).items():
        first = repo.split("/", 1)[0]
        if "/" in repo and looks_like_registry(first):
            parsed = parse_repository(repo)
            out[digest] = (parsed.registry, parsed.repository)
        else:
            out[digest] = (target_registry, repo.strip("/"))
    return out


def _collect(
    layout: OciLayout, root: Descriptor, sources: Mapping[str, tuple[str, str]]
) -> tuple[list[_Manifest], list[_Blob]]:
    """Walk the root's tree: manifests in post-order (children first) and the unique blobs."""
    manifests: list[_Manifest] = []
    seen_manifests: set = set()
    blobs: dict[str, _Blob] = {}

    def add_blob(desc: Descriptor, where: str) -> None:
        if desc.digest in blobs:
            return
        blob_file = layout.blob_path(desc.digest)
        path: Path | None = None
        if blob_file.is_file():
            path = blob_file
            size = path.stat().st_size
            if size != desc.size:
                raise LayoutError(
                    f"{layout.where}: blob {desc.digest} is {size} bytes but {where} says {desc.size}; the layout is corrupt"
                )
        source = sources.get(desc.digest)
        if path is None and source is None:
            raise LayoutError(
                f"{layout.where}: blob {desc.digest} (referenced by {where}) is not in the layout and no base "
                "repository was given to mount or stream it from"
            )
        blobs[desc.digest] = _Blob(desc, path, source)

    def visit(desc: Descriptor, depth: int) -> None:
        if desc.digest in seen_manifests:
            return
        if depth > 4:
            raise LayoutError(f"{layout.where}: indexes nested more than 4 deep at {desc.digest}")
        where = f"{'index' if desc.media_type in INDEX_TYPES else 'manifest'} {desc.digest}"
        data = layout.read_blob(desc.digest, max_size=MAX_MANIFEST_BYTES)
        media_type = manifest_media_type(data, desc.media_type, f"{layout.where}: {where}")
        if media_type != desc.media_type:
            raise LayoutError(f"{layout.where}: {where} is {media_type} but its descriptor says {desc.media_type}")
        doc = parse_manifest_json(data, where)
        if media_type in INDEX_TYPES:
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise LayoutError(f"{layout.where}: {where} has no 'manifests' list")
            for i, entry in enumerate(entries):
                child = descriptor_from_json(entry, f"{layout.where}: {where} manifests[{i}]")
                if child.media_type not in MANIFEST_MEDIA_TYPES:
                    raise LayoutError(
                        f"{layout.where}: {where} lists {child.digest} with media type {child.media_type}; "
                        "only image manifests and indexes can be pushed"
                    )
                visit(child, depth + 1)
        else:
            add_blob(descriptor_from_json(doc.get("config"), f"{where} config"), where)
            layers = doc.get("layers")
            if not isinstance(layers, list):
                raise LayoutError(f"{layout.where}: {where} has no 'layers' list")
            for i, layer in enumerate(layers):
                add_blob(descriptor_from_json(layer, f"{where} layers[{i}]"), where)
        seen_manifests.add(desc.digest)
        manifests.append(_Manifest(desc.digest, media_type, data))

    visit(root, 0)
    return manifests, list(blobs.values())


class _Pusher:
    def __init__(self, client: RegistryClient, repository: str, scopes: Sequence[str]) -> None:
        self.client = client
        self.repo = repository
        self.scopes = tuple(scopes)
        self.counts = _Counts()
        self.failed = threading.Event()

    # ---------------------------------------------------------------- blobs

    def blob_exists(self, digest: str) -> bool:
        resp = self.client.request("HEAD", f"/v2/{self.repo}/blobs/{digest}", scopes=self.scopes, expected=(200, 404))
        resp.close()
        return resp.status_code == 200

    def push_blob(self, blob: _Blob) -> str:
        if self.failed.is_set():
            return SKIPPED  # another blob failed: start nothing new, the push is aborted
        try:
            return self._push_blob(blob)
        except BaseException:
            self.failed.set()
            raise

    def _push_blob(self, blob: _Blob) -> str:
        desc = blob.descriptor
        if self.blob_exists(desc.digest):
            logger.info("%s: blob %s already present", self.repo, desc.digest)
            self.counts.add(SKIPPED)
            return SKIPPED
        upload_path = f"/v2/{self.repo}/blobs/uploads/"
        src = blob.source
        if src is not None and src[0] == self.client.registry and src[1] != self.repo:
            resp = self.client.request(
                "POST",
                upload_path,
                scopes=self.scopes,
                params={"mount": desc.digest, "from": src[1]},
                headers={"Content-Length": "0"},
                expected=(201, 202),
            )
            resp.close()
            if resp.status_code == 201:
                self._check_digest_header(resp, desc.digest, "POST", upload_path)
                logger.info("%s: mounted blob %s from %s", self.repo, desc.digest, src[1])
                self.counts.add(MOUNTED)
                return MOUNTED
        else:
            resp = self._start_upload(upload_path)
        opener = self._opener(blob)
        for session in range(1, _UPLOAD_SESSIONS + 1):
            location = self.client.resolve_location(resp, "POST")
            min_chunk = resp.headers.get("OCI-Chunk-Min-Length", "")
            try:
                if min_chunk.isdigit() and int(min_chunk) > 0:
                    self._upload_chunked(location, opener, desc, int(min_chunk))
                else:
                    self._upload_monolithic(location, opener, desc)
                break
            except RegistryError as e:
                # A registry that restarted (or expired the session) while we retried no longer
                # knows the upload: start a new one, from the first byte, a bounded number of times.
                if session == _UPLOAD_SESSIONS or not _upload_session_lost(e):
                    raise
                logger.warning(
                    "%s: the registry lost the upload of blob %s (%s); starting it again",
                    self.repo,
                    desc.digest,
                    e.code or e.status,
                )
            resp = self._start_upload(upload_path)
        logger.info("%s: uploaded blob %s (%d bytes)", self.repo, desc.digest, desc.size)
        self.counts.add(UPLOADED, desc.size)
        return UPLOADED

    def _start_upload(self, upload_path: str) -> Any:
        resp = self.client.request(
            "POST", upload_path, scopes=self.scopes, headers={"Content-Length": "0"}, expected=(202,)
        )
        resp.close()
        return resp

    def _opener(self, blob: _Blob) -> Callable[[], Any]:
        if blob.path is not None:
            path = blob.path
            return lambda: open(path, "rb")
        assert blob.source is not None
        registry, repository = blob.source
        source_client = self.client.sibling(registry)
        digest, size = blob.descriptor.digest, blob.descriptor.size

        def open_remote() -> _SourceStream:
            resp = open_blob(source_client, repository, digest)
            logger.info("%s: streaming blob %s from %s/%s", self.repo, digest, registry, repository)
            return _SourceStream(resp, size, f"registry {registry}: blob {repository}@{digest}")

        return open_remote

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return location + ("&" if "?" in location else "?") + "digest=" + quote(digest, safe="")

    def _upload_monolithic(self, location: str, opener: Callable[[], Any], desc: Descriptor) -> None:
        url = self._with_digest(location, desc.digest)
        resp = self.client.request(
            "PUT",
            url,
            scopes=self.scopes,
            headers={"Content-Type": "application/octet-stream"},
            body=opener,
            expected=_OK_PUT,
        )
        resp.close()
        self._check_digest_header(resp, desc.digest, "PUT", location)

    def _upload_chunked(self, location: str, opener: Callable[[], Any], desc: Descriptor, min_chunk: int) -> None:
        chunk_size = max(min_chunk, _MIN_CHUNK)
        offset = 0
        resumes = 0
        stream = opener()
        try:
            while offset < desc.size:
                n = min(chunk_size, desc.size - offset)
                data = _read_exactly(stream, n)
                if len(data) != n:
                    raise RegistryError(
                        f"registry {self.client.registry}: blob {desc.digest} ended after {offset + len(data)} of "
                        f"{desc.size} bytes while uploading; the source is truncated",
                        registry=self.client.registry,
                    )
                resp = self.client.request(
                    "PATCH",
                    location,
                    scopes=self.scopes,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + n - 1}",
                    },
                    body=data,
                    expected=(202, 416),
                )
                resp.close()
                if resp.status_code == 416:
                    # Out of order: ask where the registry is and resume there (files only).
                    resumes += 1
                    if resumes > _MAX_RANGE_RESUMES or not hasattr(stream, "seek"):
                        raise RegistryError(
                            f"registry {self.client.registry}: PATCH of blob {desc.digest} kept answering 416 "
                            "(range not satisfiable); try again",
                            registry=self.client.registry,
                            status=416,
                        )
                    status = self.client.request("GET", location, scopes=self.scopes, expected=(204,))
                    status.close()
                    # "0-<last byte>"; distribution also answers "0-0" for an empty upload.
                    end = _range_end(status.headers.get("Range", ""))
                    offset = end + 1 if end > 0 else 0
                    stream.seek(offset)
                    location = self.client.resolve_location(status, "GET")
                    continue
                location = self.client.resolve_location(resp, "PATCH")
                offset += n
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()
        url = self._with_digest(location, desc.digest)
        resp = self.client.request(
            "PUT", url, scopes=self.scopes, headers={"Content-Length": "0"}, body=b"", expected=_OK_PUT
        )
        resp.close()
        self._check_digest_header(resp, desc.digest, "PUT", location)

    def _check_digest_header(self, resp: Any, digest: str, method: str, target: str) -> None:
        got = resp.headers.get("Docker-Content-Digest")
        if got and got != digest:
            path = target.split("?", 1)[0]
            raise DigestMismatchError(
                f"registry {self.client.registry}: {method} {path}: the registry stored {got} instead of {digest}; "
                "refusing to continue",
                registry=self.client.registry,
                method=method,
                path=path,
            )

    # ------------------------------------------------------------ manifests

    def manifest_digest_at(self, reference: str) -> str | None:
        """``HEAD`` a manifest by tag or digest: its digest, or None when absent."""
        return manifest_digest_at(self.client, self.repo, reference, scopes=self.scopes)

    def put_manifest(self, manifest: _Manifest, reference: str) -> Any:
        path = f"/v2/{self.repo}/manifests/{reference}"
        resp = self.client.request(
            "PUT",
            path,
            scopes=self.scopes,
            headers={"Content-Type": manifest.media_type},
            body=manifest.data,
            expected=_OK_PUT,
        )
        resp.close()
        self._check_digest_header(resp, manifest.digest, "PUT", path)
        logger.info("%s: pushed %s as %s", self.repo, manifest.digest, reference)
        return resp.headers


def _upload_session_lost(error: RegistryError) -> bool:
    """Whether a failed upload request says the registry no longer knows the upload session."""
    if "/blobs/uploads/" not in error.path:
        return False
    return error.code in ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID") or error.status == 404


def _read_exactly(stream: Any, n: int) -> bytes:
    parts: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_BLOCK))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _range_end(value: str) -> int:
    # "0-1023" (the last byte received); "bytes=0-1023" also seen in the wild.
    text = value.split("=", 1)[-1]
    try:
        return int(text.split("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def push_layout(
    layout_dir: str | os.PathLike,
    repository: str,
    tags: Sequence[str] = (),
    *,
    client: RegistryClient,
    mount_sources: Mapping[str, str] | None = None,
    blob_sources: Mapping[str, tuple[str, str]] | None = None,
    jobs: int = 4,
    ref_name: str | None = None,
) -> PushResult:
    """Push the image (or index) of an OCI layout to ``repository`` and tag it.

    ``repository`` is ``registry/path`` (its registry must be ``client``'s) or a
    path on ``client``'s registry. ``mount_sources`` maps blob digests to a
    repository (``path`` on the same registry, or ``registry/path``) to mount
    them from; ``blob_sources`` maps digests to ``(registry, repository)`` to
    mount from (same registry) or stream from (another registry). ``ref_name``
    picks the image when ``index.json`` lists several.
    """
    registry = client.registry
    first = repository.split("/", 1)[0]
    if "/" in repository and looks_like_registry(first):
        parsed = parse_repository(repository)
        if parsed.registry != registry:
            raise ValueError(
                f"repository {repository!r} is on {parsed.registry}, but the client talks to {registry}; "
                "use a client for that registry"
            )
        repo = parsed.repository
    else:
        repo = parse_repository(f"{registry}/{repository.strip('/')}").repository
    unique_tags: list[str] = []
    for tag in tags:
        if not is_valid_tag(tag):
            raise ValueError(
                f"invalid tag {tag!r}: tags are 1-128 characters of letters, digits, '_', '.' and '-', "
                "not starting with '.' or '-'"
            )
        if tag not in unique_tags:
            unique_tags.append(tag)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")

    layout = read_layout(layout_dir)
    root = layout.top(ref_name)
    sources = _normalize_sources(registry, mount_sources, blob_sources)
    manifests, blobs = _collect(layout, root, sources)
    root_manifest = manifests[-1]

    # One token covers the whole push: push on the target, pull on every mount source.
    scopes = [f"repository:{repo}:pull,push"] + sorted(
        {
            f"repository:{src_repo}:pull"
            for (src_reg, src_repo) in (b.source for b in blobs if b.source)
            if src_reg == registry and src_repo != repo
        }
    )
    pusher = _Pusher(client, repo, scopes)

    manifests_pushed = manifests_skipped = 0
    if pusher.manifest_digest_at(root_manifest.digest) == root_manifest.digest:
        # A registry that has the root has everything it references (rules_img's reasoning).
        for _ in blobs:
            pusher.counts.add(SKIPPED)
        manifests_skipped = len(manifests)
        logger.info("%s: %s already present; only tags remain", repo, root_manifest.digest)
    else:
        _push_blobs_in_parallel(pusher, blobs, jobs)
        for manifest in manifests:  # post-order: children before the index
            pusher.put_manifest(manifest, manifest.digest)
            manifests_pushed += 1

    tags_pushed = tags_skipped = 0
    for tag in unique_tags:
        if pusher.manifest_digest_at(tag) == root_manifest.digest:
            tags_skipped += 1
            continue
        pusher.put_manifest(root_manifest, tag)
        tags_pushed += 1

    counts = pusher.counts
    return PushResult(
        repository=f"{registry}/{repo}",
        digest=root_manifest.digest,
        media_type=root_manifest.media_type,
        tags=tuple(unique_tags),
        blobs_uploaded=counts.uploaded,
        blobs_mounted=counts.mounted,
        blobs_skipped=counts.skipped,
        bytes_uploaded=counts.bytes_uploaded,
        manifests_pushed=manifests_pushed,
        manifests_skipped=manifests_skipped,
        tags_pushed=tags_pushed,
        tags_skipped=tags_skipped,
    )


def _push_blobs_in_parallel(pusher: _Pusher, blobs: Sequence[_Blob], jobs: int) -> None:
    if not blobs:
        return
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=min(jobs, len(blobs)), thread_name_prefix="oci-push"
    ) as pool:
        futures = [pool.submit(pusher.push_blob, blob) for blob in blobs]
        done, pending = concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        # No failure: wait() returned because everything finished.


# ------------------------------------------------------------ small writes


def _writer(client: RegistryClient, repository: str, scopes: Sequence[str] | None) -> _Pusher:
    return _Pusher(client, repository, scopes if scopes is not None else [f"repository:{repository}:pull,push"])


def push_blob_bytes(
    client: RegistryClient, repository: str, data: bytes, media_type: str, *, scopes: Sequence[str] | None = None
) -> bool:
    """Upload an in-memory blob (an SBOM, a small config) to ``repository`` (a path on the
    client's registry) unless it is there already (``HEAD``, then ``POST`` and one ``PUT``).
    Whether it was uploaded."""
    pusher = _writer(client, repository, scopes)
    desc = Descriptor(media_type=media_type, size=len(data), digest=digest_of(data))
    if pusher.blob_exists(desc.digest):
        return False
    resp = pusher._start_upload(f"/v2/{repository}/blobs/uploads/")
    pusher._upload_monolithic(client.resolve_location(resp, "POST"), lambda: io.BytesIO(data), desc)
    logger.info("%s: uploaded blob %s (%d bytes)", repository, desc.digest, desc.size)
    return True


def put_manifest_bytes(
    client: RegistryClient,
    repository: str,
    data: bytes,
    media_type: str,
    reference: str,
    *,
    scopes: Sequence[str] | None = None,
) -> Any:
    """``PUT`` manifest bytes under ``reference`` (a tag or their digest), checking the digest
    the registry says it stored. The answer's headers (``OCI-Subject`` for a referrer)."""
    manifest = _Manifest(digest_of(data), media_type, data)
    return _writer(client, repository, scopes).put_manifest(manifest, reference)
