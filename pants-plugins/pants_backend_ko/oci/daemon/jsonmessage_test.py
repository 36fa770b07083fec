"""The JSON message stream of a load: split anywhere, with or without newlines, errors found."""

from __future__ import annotations

import pytest

from pants_backend_ko.oci.daemon.jsonmessage import JsonMessage, MessageStreamError, read_messages

# What dockerd 20.10 answered to a load, then to a truncated archive (one message a line).
DOCKER = (
    b'{"status":"Loading layer","progressDetail":{"current":32768,"total":8560128},'
    b'"progress":"[\\u003e  ] 32.77kB/8.56MB","id":"f9319e569a4d"}\r\n'
    b'{"stream":"Loaded image: ko.local/app:0123\\n"}\r\n'
)
DOCKER_ERROR = (
    b'{"errorDetail":{"message":"Error processing tar file(exit status 1): unexpected EOF"},'
    b'"error":"Error processing tar file(exit status 1): unexpected EOF"}\r\n'
)
PODMAN = b'{"stream":"Loaded image: ko.local/app:0123"}'  # one object, no newline


@pytest.mark.parametrize("size", [1, 3, 17, 1000])
def test_messages_however_the_body_is_split(size: int) -> None:
    body = DOCKER + DOCKER_ERROR
    messages = list(read_messages(body[i : i + size] for i in range(0, len(body), size)))
    assert [m.status for m in messages] == ["Loading layer", "", ""]
    assert messages[1].stream == "Loaded image: ko.local/app:0123\n"
    assert messages[2].error == "Error processing tar file(exit status 1): unexpected EOF"


def test_podman_single_object_and_concatenated_values() -> None:
    assert list(read_messages([PODMAN])) == [JsonMessage(stream="Loaded image: ko.local/app:0123")]
    assert len(list(read_messages([b'{"stream":"a"}{"stream":"b"} {"error":"x"}']))) == 3
    assert list(read_messages([b'{"error":"old style"}']))[0].error == "old style"
    assert list(read_messages([b"", b"\n\n"])) == []


@pytest.mark.parametrize("body", [b"not json\n", b'["a list"]\n', b'{"stream": "cut', b"{}\n<html>"])
def test_a_body_that_is_not_json_messages_fails(body: bytes) -> None:
    with pytest.raises(MessageStreamError):
        list(read_messages([body]))
