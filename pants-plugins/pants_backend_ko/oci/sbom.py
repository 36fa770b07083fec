"""SPDX 2.3 SBOMs for images and indexes, modelled on ko's ``internal/sbom/spdx.go``.

* :func:`parse_go_version_m` reads the text ``go version -m <binary>`` prints into a
  :class:`GoBuildInfo`, with the rules of Go's ``runtime/debug.ParseBuildInfo`` (after ko's
  ``massageGoVersionM``: the ``<file>: <go version>`` header is read, leading whitespace of
  every other line dropped, trailing tabs kept).
* :func:`build_info_from_binary` reads the same information straight from a Linux (ELF) Go
  binary's ``.go.buildinfo`` section, as Go's ``debug/buildinfo`` does: no Go toolchain and
  no extra process needed. :func:`base_from_manifest` and :func:`created_from_config` pick
  the base (``org.opencontainers.image.base.*`` annotations) and date the way ko does.
* :func:`spdx_for_image` and :func:`spdx_for_index` write the SPDX JSON documents ko writes
  (``GenerateImageSPDX`` / ``GenerateIndexSPDX``): the image package with a ``pkg:oci``
  purl, the base image (``DESCENDANT_OF``), the main module (``CONTAINS``) and every
  dependency module (``DEPENDS_ON``, ``pkg:golang`` purl, SHA256 checksum decoded from the
  ``h1:`` go.sum hash); for an index, one package per child (``VARIANT_OF``).

The bytes are what Go's ``json.Encoder`` with ``SetIndent("", "  ")`` writes (struct field
order, HTML-safe escaping, a trailing newline), so the same input always gives the same
bytes. Deliberate differences from ko, each because ko's output is wrong there:

* SPDX identifiers keep only the characters SPDX allows (letters, digits, ``.``, ``-``); ko
  writes e.g. ``SPDXRef-Package-example.com.app-(devel)``.
* The Go proxy download URL case-encodes upper-case letters (``!b``) as the proxy requires.
* A replaced dependency (``=>``) gets the download location and checksum of its replacement,
  the code actually compiled in, and a ``sourceInfo`` naming the replacement; ko drops both.
* ``created`` is converted to UTC; ko formats the local time and appends ``Z``.
* The creator is ``Tool: pants-backend-ko <version>`` and the namespace
  ``http://spdx.org/spdxdocs/pants-backend-ko/<digest>``.

No Pants imports; standard library and the image model's media types and digest check only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus

from pants_backend_ko.errors import KoError
from pants_backend_ko.oci import gojson
from pants_backend_ko.oci.model import IMAGE_MANIFEST_TYPES as _IMAGE_TYPES
from pants_backend_ko.oci.model import INDEX_TYPES as _INDEX_TYPES
from pants_backend_ko.oci.model import OCI_INDEX as _OCI_INDEX
from pants_backend_ko.oci.model import OCI_MANIFEST as _OCI_MANIFEST
from pants_backend_ko.oci.model import check_digest as _check_digest
from pants_backend_ko.oci.model import digest_hex
from pants_backend_ko.oci.reference import parse_reference

__all__ = [
    "SPDX_MEDIA_TYPE",
    "SPDX_JSON_MEDIA_TYPE",
    "TOOL_NAME",
    "GoBuildInfoError",
    "GoModule",
    "GoBuildInfo",
    "IndexChild",
    "parse_go_version_m",
    "build_info_from_binary",
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

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SPDX_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")


class GoBuildInfoError(KoError, ValueError):
    """The text is not ``go version -m`` output that Go itself could parse back."""


# --------------------------------------------------------------------------- build info


@dataclass(frozen=True)
class GoModule:
    """One module line (``mod``/``dep``) with its optional ``=>`` replacement."""

    path: str
    version: str
    sum: str = ""
    replace: GoModule | None = None


@dataclass(frozen=True)
class GoBuildInfo:
    """What ``go version -m`` says about one binary (Go's ``debug.BuildInfo``)."""

    go_version: str  # "go1.26.8", from the header line; "" without a header
    binary: str  # the file named in the header line; "" without a header
    path: str  # the main package's import path
    main: GoModule | None  # None when there is no "mod" line (not built in module mode)
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]  # "build" lines, in order

    def setting(self, key: str) -> str | None:
        """The value of the last ``build`` setting named ``key`` (e.g. ``GOARCH``), or None."""
        found = None
        for k, v in self.settings:
            if k == key:
                found = v
        return found


def _fail(line_no: int, problem: str) -> GoBuildInfoError:
    return GoBuildInfoError(
        f"go version -m output, line {line_no}: {problem}; pass the unmodified output of `go version -m <binary>`"
    )


def _quote_key(key: str) -> bool:
    # Go's debug.quoteKey: keys with these characters are written quoted.
    return key == "" or any(c in key for c in '= \t\r\n"`')


def _quote_value(value: str) -> bool:
    return any(c in value for c in ' \t\r\n"`')


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


def _go_unquote(text: str) -> str | None:
    """Go's ``strconv.Unquote`` for "..." and `...` literals; None if ``text`` is not one."""
    if len(text) < 2 or text[0] != text[-1] or text[0] not in '"`':
        return None
    body = text[1:-1]
    if text[0] == "`":
        return None if "`" in body else body.replace("\r", "")
    if "\n" in body:
        return None
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == '"':
            return None
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= len(body):
            return None
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                return None
            value = int(digits, 16)
            if e == "x":
                out.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    return None
                out += chr(value).encode("utf-8")
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                return None
            out.append(int(digits, 8))
            i += 4
        else:
            return None
    return out.decode("utf-8", "replace")


def _quoted_prefix(text: str) -> str | None:
    """Go's ``strconv.QuotedPrefix``: the quoted literal ``text`` starts with, or None."""
    if not text or text[0] not in '"`':
        return None
    quote = text[0]
    i = 1
    while i < len(text):
        c = text[i]
        if c == quote:
            candidate = text[: i + 1]
            return candidate if _go_unquote(candidate) is not None else None
        if quote == '"' and c == "\\":
            i += 2
            continue
        if quote == '"' and c == "\n":
            return None
        i += 1
    return None


def _module(elem: list[str], line_no: int, what: str) -> GoModule:
    if len(elem) not in (2, 3):
        raise _fail(line_no, f"a {what} line needs 2 or 3 tab-separated columns, got {len(elem)}")
    return GoModule(path=elem[0], version=elem[1], sum=elem[2] if len(elem) == 3 else "")


def _setting(kv: str, line_no: int) -> tuple[str, str]:
    if not kv:
        raise _fail(line_no, "a build line has no key=value")
    if kv[0] == "=":
        raise _fail(line_no, "a build line has an empty key")
    if kv[0] in '"`':
        raw_key = _quoted_prefix(kv)
        if raw_key is None:
            raise _fail(line_no, "a build line has an invalid quoted key")
        if len(kv) == len(raw_key) or kv[len(raw_key)] != "=":
            raise _fail(line_no, "a build line has no '=' after its quoted key")
        key = _go_unquote(raw_key) or ""
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep:
            raise _fail(line_no, "a build line has no '=' after its key")
        if _quote_key(key):
            raise _fail(line_no, f"the build key {key!r} must be quoted")
    value = raw_value
    if raw_value and raw_value[0] in '"`':
        unquoted = _go_unquote(raw_value)
        if unquoted is None:
            raise _fail(line_no, f"the build setting {key!r} has an invalid quoted value")
        value = unquoted
    elif _quote_value(raw_value):
        raise _fail(line_no, f"the value of build setting {key!r} must be quoted")
    return key, value


def parse_go_version_m(text: str) -> GoBuildInfo:
    """Parse the output of ``go version -m <binary>`` (one binary).

    Raises :class:`GoBuildInfoError` (one line, with the line number) for text Go's
    ``debug.ParseBuildInfo`` would reject, for output about several binaries, and for text
    with no build information at all.
    """
    if not isinstance(text, str):
        raise GoBuildInfoError(f"go version -m output must be text, got {type(text).__name__}")
    lines = text.splitlines()
    go_version = binary = ""
    start = 0
    if lines and lines[0] and not lines[0][0].isspace():
        header = lines[0]
        binary, sep, go_version = header.rpartition(": ")
        if not sep or not go_version.startswith("go"):
            raise _fail(1, f"expected '<binary>: go<version>', got {header[:120]!r}")
        start = 1
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    # The module a "=>" line replaces: ("main", None) or ("dep", index); None after a replacement.
    last: tuple[str, int | None] | None = None
    for offset, raw in enumerate(lines[start:]):
        line_no = start + offset + 1
        if raw and not raw[0].isspace():
            raise _fail(line_no, "a second '<binary>: go<version>' header (output about several binaries)")
        line = raw.lstrip()
        if line.startswith("path\t"):
            path = line[len("path\t") :]
        elif line.startswith("mod\t"):
            main = _module(line[len("mod\t") :].split("\t"), line_no, "mod")
            last = ("main", None)
        elif line.startswith("dep\t"):
            deps.append(_module(line[len("dep\t") :].split("\t"), line_no, "dep"))
            last = ("dep", len(deps) - 1)
        elif line.startswith("=>\t"):
            elem = line[len("=>\t") :].split("\t")
            if len(elem) != 3:
                raise _fail(line_no, f"a replacement (=>) line needs 3 tab-separated columns, got {len(elem)}")
            if last is None:
                raise _fail(line_no, "a replacement (=>) line does not follow a mod or dep line")
            replacement = GoModule(path=elem[0], version=elem[1], sum=elem[2])
            if last[0] == "main":
                assert main is not None
                main = GoModule(main.path, main.version, main.sum, replacement)
            else:
                index = last[1]
                assert index is not None
                old = deps[index]
                deps[index] = GoModule(old.path, old.version, old.sum, replacement)
            last = None
        elif line.startswith("build\t"):
            settings.append(_setting(line[len("build\t") :], line_no))
        # Any other line (Go's "go\t<version>", blank lines) is ignored, as Go does.
    if not path and main is None and not deps:
        raise GoBuildInfoError(
            "go version -m output has no build information (no path, mod or dep line); "
            "run `go version -m` on a Go binary built with module support"
        )
    return GoBuildInfo(go_version, binary, path, main, tuple(deps), tuple(settings))


_BUILDINFO_MAGIC = b"\xff Go buildinf:"
_BUILDINFO_HEADER_SIZE = 32


def _elf_section(data: bytes, wanted: str, what: str) -> bytes | None:
    """The bytes of the ELF section named ``wanted``, or None if there is none."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise GoBuildInfoError(
            f"{what}: not an ELF executable; only Linux binaries are read directly, "
            "pass the output of `go version -m` to parse_go_version_m instead"
        )
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        if is64:
            (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from(order + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)

        def header(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            if is64:
                (name,) = struct.unpack_from(order + "I", data, base)
                offset, size = struct.unpack_from(order + "QQ", data, base + 0x18)
            else:
                (name,) = struct.unpack_from(order + "I", data, base)
                offset, size = struct.unpack_from(order + "II", data, base + 0x10)
            return name, offset, size

        def contents(offset: int, size: int) -> bytes:
            # Only sections read are checked: .bss-like sections legitimately end past the file.
            if offset + size > len(data):
                raise struct.error("section past the end of the file")
            return data[offset : offset + size]

        if shnum == 0 or shstrndx >= shnum:
            return None
        _, names_offset, names_size = header(shstrndx)
        names = contents(names_offset, names_size)
        for i in range(shnum):
            name, offset, size = header(i)
            end = names.find(b"\0", name)
            if names[name : end if end >= 0 else None].decode("latin-1") == wanted:
                return contents(offset, size)
    except struct.error:
        raise GoBuildInfoError(
            f"{what}: the ELF file is truncated (its section headers or sections are cut off); the file is damaged"
        ) from None
    return None


def _uvarint_string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    length = shift = 0
    for _ in range(10):  # a uvarint of a 64-bit length has at most 10 bytes
        if pos >= len(data):
            break
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if pos + length > len(data):
                break
            return data[pos : pos + length].decode("utf-8", "replace"), pos + length
    raise GoBuildInfoError(f"{what}: the Go build information is truncated; the file is damaged")


def build_info_from_binary(data: bytes, name: str = "binary") -> GoBuildInfo:
    """What ``go version -m`` prints, read from the bytes of a Linux (ELF) Go binary.

    Go's ``debug/buildinfo``: the ``.go.buildinfo`` section holds a 32-byte header and, since
    Go 1.18, the Go version and the module information as varint-prefixed strings. No Go
    toolchain is needed; ``name`` becomes :attr:`GoBuildInfo.binary` (e.g. ``/ko-app/app``).
    """
    section = _elf_section(data, ".go.buildinfo", name)
    if section is None or not section.startswith(_BUILDINFO_MAGIC) or len(section) < _BUILDINFO_HEADER_SIZE:
        raise GoBuildInfoError(f"{name}: not a Go executable (no Go build information section)")
    if not section[15] & 0x2:
        raise GoBuildInfoError(f"{name}: built by Go before 1.18, whose build information is not supported; rebuild it")
    version, pos = _uvarint_string(section, _BUILDINFO_HEADER_SIZE, name)
    modinfo, _ = _uvarint_string(section, pos, name)
    # The module information is wrapped in two 16-byte sentinels (cmd/go's modinfo).
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    else:
        modinfo = ""
    if not modinfo:
        raise GoBuildInfoError(f"{name}: the Go binary carries no module information (built with -buildvcs/-mod off?)")
    lines = "".join(f"\t{line}\n" for line in modinfo.splitlines())
    return parse_go_version_m(f"{name}: {version}\n{lines}")


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
    return created if isinstance(created, str) and created else "0001-01-01T00:00:00Z"


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


def _spdx_created(created: str) -> str:
    """An RFC 3339 time as SPDX wants it: UTC, whole seconds, ``YYYY-MM-DDThh:mm:ssZ``."""
    match = _RFC3339.match(created) if isinstance(created, str) else None
    if not match:
        raise ValueError(
            f"created: {created!r} is not an RFC 3339 time like 1970-01-01T00:00:00Z; pass the image config's 'created'"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = match.group(8)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError):
        raise ValueError(f"created: {created!r} is not a valid date and time") from None
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"


def _check_tool_version(tool_version: Any) -> str:
    if not isinstance(tool_version, str) or not tool_version.strip() or any(c.isspace() for c in tool_version):
        raise ValueError(f"tool_version: {tool_version!r} must be a version string without spaces, e.g. 0.1.0")
    return tool_version


def _go_indent(value: Any, depth: int, out: list[str]) -> None:
    """Go's ``json.Encoder`` with ``SetIndent("", "  ")``; scalars through :mod:`gojson`."""
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and value:
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(pad + gojson.dumps(key).decode("utf-8") + ": ")
            _go_indent(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * depth + "}")
    elif isinstance(value, (list, tuple)) and value:
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(pad)
            _go_indent(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * depth + "]")
    else:
        out.append(gojson.dumps(value).decode("utf-8"))


def _encode(document: dict) -> bytes:
    out: list[str] = []
    _go_indent(document, 0, out)
    out.append("\n")  # json.Encoder.Encode ends every value with a newline
    return "".join(out).encode("utf-8")


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
            "creationInfo": {"created": _spdx_created(created), "creators": [f"Tool: {TOOL_NAME} {tool_version}"]},
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
    _check_digest(digest, "base digest")
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
    _check_digest(image_digest, "image_digest")
    if image_media_type not in _IMAGE_TYPES:
        raise ValueError(
            f"image_media_type: {image_media_type!r} is not an image manifest type ({' or '.join(_IMAGE_TYPES)})"
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
    return _encode(doc)


@dataclass(frozen=True)
class IndexChild:
    """One manifest of an index: digest, platform (``os/arch[/variant][:os_version]``), media type."""

    digest: str
    platform: str
    media_type: str = _OCI_MANIFEST
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
        media_type = child[2] if len(child) == 3 else _OCI_MANIFEST
        return IndexChild(child[0], text, media_type, features)
    raise ValueError(f"children[{i}]: expected (digest, platform) or IndexChild, got {child!r}")


def spdx_for_index(
    index_digest: str,
    children: Iterable[IndexChild | tuple[str, Any] | tuple[str, Any, str]],
    created: str,
    *,
    tool_version: str,
    index_media_type: str = _OCI_INDEX,
    base: tuple[str, str] | None = None,
) -> bytes:
    """The SPDX 2.3 JSON document of a multi-platform index (ko's ``GenerateIndexSPDX``).

    ``children`` are ``(digest, platform)`` pairs (platform ``"linux/arm/v7"`` or a Platform
    object), optionally with the child's media type third, or :class:`IndexChild` values.
    ``created`` is the first image's config ``created``, as ko takes it.
    """
    _check_digest(index_digest, "index_digest")
    if index_media_type not in _INDEX_TYPES:
        raise ValueError(f"index_media_type: {index_media_type!r} is not an index type ({' or '.join(_INDEX_TYPES)})")
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
        _check_digest(child.digest, f"children[{i}] digest")
        if child.media_type not in _IMAGE_TYPES:
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
    return _encode(doc)
