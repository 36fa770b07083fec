"""Errors of the registry client: always one line, never containing a secret."""

from __future__ import annotations

from pants_backend_ko import errors
from pants_backend_ko.errors import KoError


class RegistryError(KoError):
    """A registry (or its token server) refused or failed a request.

    ``str()`` is one line: ``registry <host>: <METHOD> <path>: <status> <CODE>[: message] [(hint)]``.
    ``status`` is the HTTP status (0 for connection-level failures), ``code``
    the first distribution error code of the body (e.g. ``MANIFEST_UNKNOWN``).
    """

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        method: str = "",
        path: str = "",
        status: int = 0,
        code: str = "",
    ) -> None:
        super().__init__(errors.one_line(message))  # force a single line
        self.registry = registry
        self.method = method
        self.path = path
        self.status = status
        self.code = code

    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_unauthorized(self) -> bool:
        return self.status in (401, 403)


class DigestMismatchError(RegistryError):
    """Content did not hash to the digest it was fetched or pushed by."""


def one_line(text: str | None, limit: int = 200) -> str:
    """Collapse whitespace and truncate, for quoting a server's message in an error."""
    return errors.one_line(text or "", limit)
