"""SPDX 2.3 SBOMs for images and indexes, modelled on ko's ``internal/sbom/spdx.go``.

The Go side, what a binary says about its modules, is read by ``golang.gobuildinfo``
(``go version -m`` text) and ``golang.elfbuildinfo`` (the binary itself), as ko's
``internal/sbom/mod.go`` does beside ``spdx.go``. Here:

* :func:`base_from_manifest` and :func:`created_from_config` pick the base
  (``org.opencontainers.image.base.*`` annotations) and date the way ko does.
* :func:`spdx_for_image` and :func:`spdx_for_index` write the SPDX JSON documents ko writes
  (``GenerateImageSPDX`` / ``GenerateIndexSPDX``): the image package with a ``pkg:oci``
  purl, the base image (``DESCENDANT_OF``), the main module (``CONTAINS``) and every
  dependency module (``DEPENDS_ON``, ``pkg:golang`` purl, SHA256 checksum decoded from the
  ``h1:`` go.sum hash); for an index, one package per child (``VARIANT_OF``).

The bytes are what Go's ``json.Encoder`` with ``SetIndent("", "  ")`` writes (struct field
order, HTML-safe escaping, a trailing newline: ``gojson.dumps_indented``), so the same input always gives the same
bytes. Deliberate differences from ko, each because ko's output is wrong there:

* SPDX identifiers keep only the characters SPDX allows (letters, digits, ``.``, ``-``); ko
  writes e.g. ``SPDXRef-Package-example.com.app-(devel)``.
* The Go proxy download URL case-encodes upper-case letters (``!b``) as the proxy requires.
* A replaced dependency (``=>``) gets the download location and checksum of its replacement,
  the code actually compiled in, and a ``sourceInfo`` naming the replacement; ko drops both.
* ``created`` is converted to UTC; ko formats the local time and appends ``Z``.
* The creator is ``Tool: pants-backend-ko <version>`` and the namespace
  ``http://spdx.org/spdxdocs/pants-backend-ko/<digest>``.

No Pants imports.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gobuildinfo import GoBuildInfo, GoModule
from pants_backend_ko.golang.gotime import ZERO_TIME, json_time_utc
from pants_backend_ko.oci.digest import check_digest, digest_hex
from pants_backend_ko.oci.mediatypes import IMAGE_MANIFEST_TYPES, INDEX_TYPES, OCI_INDEX, OCI_MANIFEST
from pants_backend_ko.oci.reference import parse_reference

__all__ = [
    "SPDX_MEDIA_TYPE",
    "SPDX_JSON_MEDIA_TYPE",
    "TOOL_NAME",
    "IndexChild",
    "base_from_manifest",
    "created_from_config",
    "h1_to_sha256",
    "spdx_for_image",
    "spdx_for_index",
]

# ko (through cosign's ctypes.SPDXJSONMediaType) attaches SPDX JSON as this type.
SPDX_MEDIA_TYPE = "text/spdx+json"
# The IANA-registered type, used as the OCI 1.1 artifactType.
SPDX_JSON_MEDIA_TYPE = "application/spdx+json"
TOOL_NAME = "pants-backend-ko"
NOASSERTION = "NOASSERTION"
SPDX_VERSION = "SPDX-2.3"
NAMESPACE_PREFIX = f"http://spdx.org/spdxdocs/{TOOL_NAME}/"

_SPDX_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


def base_from_manifest(manifest: bytes) -> tuple[str, str] | None:
    """(name, digest) of the base from a manifest's or index's ``org.opencontainers.image.base.*``
    annotations (what ko's ``addBaseImage`` reads), or None when they are absent."""
    doc = json.loads(manifest)
    annotations = doc.get("annotations") if isinstance(doc, dict) else None
    if not isinstance(annotations, dict):
        return None
    name = annotations.get("org.opencontainers.image.base.name")
    digest = annotations.get("org.opencontainers.image.base.digest")
    if not isinstance(name, str) or not isinstance(digest, str) or not name or not digest:
        return None
    return name, digest


def created_from_config(config: bytes) -> str:
    """An image config's ``created`` (ko's SBOM date); Go's zero time when it has none."""
    doc = json.loads(config)
    created = doc.get("created") if isinstance(doc, dict) else None
    return created if isinstance(created, str) and created else ZERO_TIME


# --------------------------------------------------------------------------- helpers


def h1_to_sha256(go_sum: str) -> str:
    """The hex SHA-256 inside a go.sum ``h1:<base64>`` hash; "" for any other form (as ko)."""
    if not go_sum.startswith("h1:"):
        return ""
    try:
        raw = base64.b64decode(go_sum[3:], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw.hex()


def _spdx_id(*parts: str) -> str:
    """``SPDXRef-Package-<parts joined by '-'>`` with only the characters SPDX allows."""
    return "SPDXRef-Package-" + _SPDX_ID_UNSAFE.sub("-", "-".join(parts))


def _module_id(module: GoModule) -> str:
    # ko's modulePackageName: "/" -> "." in the path, then "-<version>".
    return _spdx_id(module.path.replace("/", "."), module.version)


def _oci_id(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return _spdx_id(algorithm, hexdigest)


def _purl_qualifiers(qualifiers: Sequence[tuple[str, str]]) -> str:
    """Go's ``url.Values.Encode``: keys sorted (stable for repeated keys), QueryEscape'd."""
    if not qualifiers:
        return ""
    ordered = sorted(qualifiers, key=lambda kv: kv[0])
    return "?" + "&".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in ordered)


def _oci_purl(kind: str, digest: str, qualifiers: Sequence[tuple[str, str]] = ()) -> str:
    return f"pkg:oci/{kind}@{digest}" + _purl_qualifiers(qualifiers)


def _go_purl(module: GoModule) -> str:
    # ko's goRef: the first two path elements lower-cased (purl-spec's golang type).
    parts = module.path.split("/")
    path = "/".join([parts[0].lower(), parts[1].lower()] + parts[2:]) if len(parts) > 2 else module.path
    return f"pkg:golang/{path}@{module.version}?type=module"


def _proxy_escape(text: str) -> str:
    """golang.org/x/mod/module.EscapePath/EscapeVersion: upper-case letters become '!' + lower."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), text)


def _proxy_zip_url(path: str, version: str) -> str:
    return f"https://proxy.golang.org/{_proxy_escape(path)}/@v/{_proxy_escape(version)}.zip"


def _check_tool_version(tool_version: Any) -> str:
    if not isinstance(tool_version, str) or not tool_version.strip() or any(c.isspace() for c in tool_version):
        raise ValueError(f"tool_version: {tool_version!r} must be a version string without spaces, e.g. 0.1.0")
    return tool_version


def _package(
    spdx_id: str,
    name: str,
    *,
    version: str = "",
    download_location: str = NOASSERTION,
    source_info: str = "",
    primary_purpose: str = "",
    checksum: str = "",
    purl: str,
    comment: str = "",
) -> dict:
    """One package in the Go struct field order of ko's ``Package`` (empty fields omitted)."""
    pkg: dict = {"SPDXID": spdx_id, "name": name}
    if version:
        pkg["versionInfo"] = version
    pkg["filesAnalyzed"] = False
    pkg["licenseDeclared"] = NOASSERTION
    pkg["licenseConcluded"] = NOASSERTION
    pkg["downloadLocation"] = download_location
    if source_info:
        pkg["sourceInfo"] = source_info
    pkg["copyrightText"] = NOASSERTION
    if primary_purpose:
        pkg["primaryPackagePurpose"] = primary_purpose
    if checksum:
        pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": checksum}]
    pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceLocator": purl, "referenceType": "purl"}]
    if comment:
        pkg["comment"] = comment  # SPDX 2.3 PackageComment; not in ko's struct
    return pkg


def _relationship(element: str, kind: str, related: str) -> dict:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def _starter(digest: str, created: str, tool_version: str) -> tuple[dict, str]:
    """ko's ``starterDocument``: the document fields, describing the image or index package."""
    subject_id = _oci_id(digest)
    return (
        {
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "sbom-" + digest,
            "spdxVersion": SPDX_VERSION,
            "creationInfo": {
                "created": json_time_utc(created, "created"),
                "creators": [f"Tool: {TOOL_NAME} {tool_version}"],
            },
            "dataLicense": "CC0-1.0",
            "documentNamespace": NAMESPACE_PREFIX + digest,
            "documentDescribes": [subject_id],
        },
        subject_id,
    )


def _base_package(base: tuple[str, str], subject_id: str) -> tuple[dict, dict]:
    """ko's ``addBaseImage``: the base image package and its ``DESCENDANT_OF`` relationship."""
    if not isinstance(base, (tuple, list)) or len(base) != 2:
        raise ValueError(f"base: expected (name, digest) of the base image, got {base!r}")
    name, digest = base
    check_digest(digest, "base digest")
    try:
        ref = parse_reference(name)
    except ValueError as e:
        raise ValueError(f"base name: {e}") from None
    qualifiers = [("repository_url", ref.repository_name)]
    if ref.digest is None and ref.tag:
        qualifiers.append(("tag", ref.tag))  # ggcr: only a name.Tag reference has a tag qualifier
    base_id = _oci_id(digest)
    package = _package(
        base_id,
        f"{ref.repository_name}@{digest}",
        version=name,
        checksum=digest_hex(digest),
        purl=_oci_purl("image", digest, qualifiers),
    )
    return package, _relationship(subject_id, "DESCENDANT_OF", base_id)


def spdx_for_image(
    build_info: GoBuildInfo,
    *,
    image_digest: str,
    image_media_type: str,
    binary_path_in_image: str,
    base: tuple[str, str] | None,
    created: str,
    tool_version: str,
) -> bytes:
    """The SPDX 2.3 JSON document of one single-platform image (ko's ``GenerateImageSPDX``).

    ``image_digest``/``image_media_type`` are the image manifest's; ``base`` is the base
    image's (reference as written, manifest digest) or None for scratch; ``created`` is the
    image config's ``created`` (RFC 3339); ``binary_path_in_image`` (e.g. ``/ko-app/app``) is
    recorded as the main module package's comment.
    """
    if not isinstance(build_info, GoBuildInfo):
        raise ValueError(f"build_info must come from parse_go_version_m, got {type(build_info).__name__}")
    check_digest(image_digest, "image_digest")
    if image_media_type not in IMAGE_MANIFEST_TYPES:
        raise ValueError(
            f"image_media_type: {image_media_type!r} is not an image manifest type ({' or '.join(IMAGE_MANIFEST_TYPES)})"
        )
    tool_version = _check_tool_version(tool_version)
    doc, image_id = _starter(image_digest, created, tool_version)
    packages: list[dict] = []
    relationships: list[dict] = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", image_id)]
    packages.append(
        _package(
            image_id,
            image_digest,
            primary_purpose="CONTAINER",
            purl=_oci_purl("image", image_digest, [("mediaType", image_media_type)]),
        )
    )
    if base is not None:
        base_pkg, base_rel = _base_package(base, image_id)
        packages.append(base_pkg)
        relationships.append(base_rel)

    main = build_info.main or GoModule(path=build_info.path or "command-line-arguments", version="")
    main_id = _module_id(main)
    relationships.append(_relationship(image_id, "CONTAINS", main_id))
    comment = ""
    if binary_path_in_image:
        comment = f"The Go program {build_info.path or main.path} is the file {binary_path_in_image} in the image"
        if build_info.go_version:
            comment += f", built with {build_info.go_version}"
        comment += "."
    packages.append(
        _package(
            main_id,
            main.path,
            download_location="https://" + main.path,
            purl=_go_purl(main),
            comment=comment,
        )
    )
    seen = {image_id, main_id} | ({packages[1]["SPDXID"]} if base is not None else set())
    for dep in build_info.deps:
        dep_id = _module_id(dep)
        if dep_id in seen:
            raise ValueError(
                f"build_info: module {dep.path} {dep.version} is listed twice; it cannot be described twice"
            )
        seen.add(dep_id)
        relationships.append(_relationship(main_id, "DEPENDS_ON", dep_id))
        source = dep.replace or dep
        if dep.replace is None:
            location, source_info = _proxy_zip_url(dep.path, dep.version), ""
        elif dep.replace.version and dep.replace.version != "(devel)":
            location = _proxy_zip_url(dep.replace.path, dep.replace.version)
            source_info = f"replaced by {dep.replace.path} {dep.replace.version}"
        else:
            location, source_info = NOASSERTION, f"replaced by the local directory {dep.replace.path}"
        packages.append(
            _package(
                dep_id,
                dep.path,
                version=dep.version,
                download_location=location,
                source_info=source_info,
                checksum=h1_to_sha256(source.sum),
                purl=_go_purl(dep),
            )
        )
    doc["packages"] = packages
    doc["relationships"] = relationships
    return gojson.dumps_indented(doc)


@dataclass(frozen=True)
class IndexChild:
    """One manifest of an index: digest, platform (``os/arch[/variant][:os_version]``), media type."""

    digest: str
    platform: str
    media_type: str = OCI_MANIFEST
    os_features: tuple[str, ...] = ()


def _platform_text(platform: Any) -> tuple[str, str, str, str, tuple[str, ...]]:
    """(os, arch, variant, os_version, os_features) from a string or a Platform-like object."""
    if isinstance(platform, str):
        spec, _, os_version = platform.partition(":")
        parts = spec.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise ValueError(f"platform {platform!r}: write it as os/arch[/variant][:os_version], e.g. linux/arm64")
        return parts[0], parts[1], parts[2] if len(parts) == 3 else "", os_version, ()
    os_name = getattr(platform, "os", None)
    arch = getattr(platform, "architecture", None)
    if not os_name or not arch:
        raise ValueError(f"platform {platform!r}: expected 'os/arch[/variant]' or an object with os and architecture")
    return (
        str(os_name),
        str(arch),
        str(getattr(platform, "variant", "") or ""),
        str(getattr(platform, "os_version", "") or ""),
        tuple(getattr(platform, "os_features", ()) or ()),
    )


def _as_child(child: Any, i: int) -> IndexChild:
    if isinstance(child, IndexChild):
        return child
    if isinstance(child, (tuple, list)) and len(child) in (2, 3):
        os_name, arch, variant, os_version, features = _platform_text(child[1])
        text = "/".join(p for p in (os_name, arch, variant) if p) + (f":{os_version}" if os_version else "")
        media_type = child[2] if len(child) == 3 else OCI_MANIFEST
        return IndexChild(child[0], text, media_type, features)
    raise ValueError(f"children[{i}]: expected (digest, platform) or IndexChild, got {child!r}")


def spdx_for_index(
    index_digest: str,
    children: Iterable[IndexChild | tuple[str, Any] | tuple[str, Any, str]],
    created: str,
    *,
    tool_version: str,
    index_media_type: str = OCI_INDEX,
    base: tuple[str, str] | None = None,
) -> bytes:
    """The SPDX 2.3 JSON document of a multi-platform index (ko's ``GenerateIndexSPDX``).

    ``children`` are ``(digest, platform)`` pairs (platform ``"linux/arm/v7"`` or a Platform
    object), optionally with the child's media type third, or :class:`IndexChild` values.
    ``created`` is the first image's config ``created``, as ko takes it.
    """
    check_digest(index_digest, "index_digest")
    if index_media_type not in INDEX_TYPES:
        raise ValueError(f"index_media_type: {index_media_type!r} is not an index type ({' or '.join(INDEX_TYPES)})")
    tool_version = _check_tool_version(tool_version)
    items = [_as_child(child, i) for i, child in enumerate(children)]
    if not items:
        raise ValueError("children: an index SBOM needs at least one child image")
    doc, index_id = _starter(index_digest, created, tool_version)
    hexdigest = digest_hex(index_digest)
    packages: list[dict] = [
        _package(
            index_id,
            index_digest,
            primary_purpose="CONTAINER",
            checksum=hexdigest,
            purl=_oci_purl("index", index_digest, [("mediaType", index_media_type)]),
        )
    ]
    relationships: list[dict] = []
    if base is not None:
        base_pkg, base_rel = _base_package(base, index_id)
        packages.append(base_pkg)
        relationships.append(base_rel)
    seen = {p["SPDXID"] for p in packages}
    for i, child in enumerate(items):
        check_digest(child.digest, f"children[{i}] digest")
        if child.media_type not in IMAGE_MANIFEST_TYPES:
            raise ValueError(
                f"children[{i}]: media type {child.media_type!r} is not an image manifest; nested indexes are not supported"
            )
        os_name, arch, variant, os_version, _ = _platform_text(child.platform)
        child_id = _oci_id(child.digest)
        if child_id in seen:
            raise ValueError(f"children[{i}]: {child.digest} is listed twice")
        seen.add(child_id)
        relationships.append(_relationship(index_id, "VARIANT_OF", child_id))
        qualifiers = [("mediaType", child.media_type), ("arch", arch), ("os", os_name)]
        if variant:
            qualifiers.append(("variant", variant))
        if os_version:
            qualifiers.append(("os-version", os_version))
        qualifiers += [("os-feature", feature) for feature in child.os_features]
        version = os_name + (f"/{arch}" if arch else "") + (f"/{variant}" if variant else "")
        version += f":{os_version}" if os_version else ""
        packages.append(
            _package(
                child_id,
                child.digest,
                version=version,
                primary_purpose="CONTAINER",
                checksum=digest_hex(child.digest),
                purl=_oci_purl("image", child.digest, qualifiers),
            )
        )
    doc["packages"] = packages
    doc["relationships"] = relationships
    return gojson.dumps_indented(doc)
