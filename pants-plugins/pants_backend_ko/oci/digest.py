"""Content digests, `sha256:<hex>` (ggcr's `pkg/v1/hash.go`, for the one algorithm OCI uses here).

No Pants imports.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["digest_of", "digest_hex", "check_digest", "is_digest"]

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def digest_of(data: bytes) -> str:
    """`sha256:<hex>` of the bytes, the content address used everywhere in OCI."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of `sha256:<hex>`: a blob's file name in a layout, a cosign tag's stem."""
    return digest.split(":", 1)[1]


def is_digest(value: Any) -> bool:
    """Whether `value` is `sha256:<64 lower-case hex>`."""
    return isinstance(value, str) and bool(_DIGEST_RE.fullmatch(value))


def check_digest(value: Any, where: str) -> str:
    """Accept only `sha256:<64 lower-case hex>` (what ggcr's Hash accepts for sha256)."""
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise ValueError(f"{where}: {value!r} is not a sha256 digest (sha256:<64 lower-case hex digits>)")
    return value
