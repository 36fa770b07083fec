"""The JSON message stream the Engine API answers `POST /images/load` (and pulls, builds) with.

The body is a sequence of JSON objects (moby `pkg/jsonmessage` `JSONMessage`): `stream` text
("Loaded image: ko.local/app:<hex>\\n"), `status`/`progressDetail` progress, and on failure
`errorDetail: {message}` and `error`. The HTTP status is 200 even when a message reports an error
(the error is found only by reading the stream, moby `api/server/router/image/image_routes.go`
`postImagesLoad`); podman's compat API sends one object without a newline. Values are read
one after another whatever separates them, as Go's `json.Decoder` does. No Pants imports here.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pants_backend_ko.errors import KoError, one_line

__all__ = ["JsonMessage", "MessageStreamError", "read_messages"]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
_MAX_PENDING = 1 << 20  # one message larger than this is not a progress message: refuse it


class MessageStreamError(KoError, ValueError):
    """The stream is not a sequence of JSON objects."""


@dataclass(frozen=True)
class JsonMessage:
    stream: str = ""
    status: str = ""
    error: str = ""  # errorDetail.message, or the older top-level "error"

    @classmethod
    def from_json(cls, value: object) -> JsonMessage:
        if not isinstance(value, dict):
            raise MessageStreamError(f"expected a JSON object, got {type(value).__name__}")
        detail = value.get("errorDetail")
        error = (detail.get("message") if isinstance(detail, dict) else None) or value.get("error") or ""
        return cls(
            stream=_text(value.get("stream")),
            status=_text(value.get("status")),
            error=_text(error),
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def read_messages(chunks: Iterable[bytes]) -> Iterator[JsonMessage]:
    """The messages of a body arriving in `chunks`, each as soon as its line is complete.

    Docker ends every message with a newline; the values on a line (or after the last newline,
    when the body ends) are read one after another.
    """
    pending = ""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for chunk in chunks:
        pending += decoder.decode(chunk)
        complete, newline, pending = pending.rpartition("\n")
        if newline:
            yield from _values(complete)
        if len(pending) > _MAX_PENDING:
            raise MessageStreamError(f"a message longer than {_MAX_PENDING} bytes")
    yield from _values(pending + decoder.decode(b"", final=True))


def _values(text: str) -> Iterator[JsonMessage]:
    position = 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            return
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as e:
            raise MessageStreamError(f"not a JSON message: {one_line(text[position:], 200)!r} ({e.msg})") from None
        yield JsonMessage.from_json(value)
