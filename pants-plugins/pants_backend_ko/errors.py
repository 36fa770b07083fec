"""The backend's errors: one family, one message each, put together in one place.

Whatever the backend raises for bad input or a failed step is a `KoError`: the registry
client's `RegistryError`, `CredentialError` and `InvalidLimitsError`, the image core's
`InvalidReferenceError`, `InvalidPlatformError`, `LayoutError` and `GoBuildInfoError`, the Docker
daemon client's `DaemonError`, `DaemonAddressError` and `ArchiveError`, the YAML
scanner's `ManifestError` (`k8s/scan.py`), `.ko.yaml`'s `TemplateError` and `GitInfoError`, the
tool's usage errors and `MessageError`. Its parts are *where* (a target address, `file:line[:col]`; empty when the message does not say),
*what* is wrong, and *what to do* (`fix`, when it is not already part of `what`);
`format_error` joins them, and nothing else does.

The Pants rules say which target a core error belongs to with `located`: an error that already
says where (a file and line is more precise than a target) keeps its location, anything else
gets the target's. Messages are one line, except where a tool's own output is quoted (a
compiler's errors).

Pure Python, no Pants imports: the core (`oci/`, `k8s/`, `koconfig/`) and the tool raise these,
and this module is shipped into sandboxes with them.
"""

from __future__ import annotations


def one_line(text: object, limit: int | None = None) -> str:
    """`text` with every run of whitespace (newlines too) made one space, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 3] + "..."
    return flat


def format_error(what: str, *, where: str = "", fix: str = "") -> str:
    """`<where>: <what>; <fix>`, leaving out the parts that are empty."""
    message = f"{where}: {what}" if where else what
    return f"{message}; {fix}" if fix else message


class KoError(Exception):
    """Bad input or a failed step, described in one line: where, what, and what to do."""

    def __init__(self, what: str, *, where: str = "", fix: str = "") -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(format_error(what, where=where, fix=fix))


def located(error: BaseException, where: str) -> KoError:
    """`error` said at `where`, unless it already says where it is.

    A `KoError` with a location is returned as it is; any other error keeps its message (and
    its fix) with `where` in front. A message that is empty says at least what kind of error it is.
    """
    if isinstance(error, KoError):
        if error.where:
            return error
        return KoError(error.what, where=where, fix=error.fix)
    return KoError(str(error) or type(error).__name__, where=where)
