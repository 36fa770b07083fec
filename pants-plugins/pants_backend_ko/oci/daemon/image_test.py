"""The config go-containerregistry's daemon image gives ko, from an inspect and a history answer.

The answers have the shape dockerd 20.10 gives (API 1.41); tests/test_ko_local.py checks against
the real ko that an image built on such a base gets ko's config, byte for byte (same image ID).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pants_backend_ko.oci.daemon.client import DaemonError
from pants_backend_ko.oci.daemon.image import ggcr_config_file

INSPECT: dict[str, Any] = {
    "Id": "sha256:" + "1" * 64,
    "RepoTags": ["ko.local/base:v1"],
    "Created": "2024-05-06T07:08:09.123456780Z",
    "Author": "someone",
    "Config": {
        "Hostname": "",
        "User": "65532",
        "ExposedPorts": {"8080/tcp": {}},
        "Env": ["PATH=/usr/bin", "A=b"],
        "Cmd": ["serve"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
        "Volumes": {"/data": {}, "/cache": {}},
        "WorkingDir": "/home",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": {"b": "2", "a": "1"},
        "StopSignal": "SIGTERM",
    },
    "Architecture": "arm",
    "Variant": "v7",
    "Os": "linux",
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
}
HISTORY = [  # newest first, as Docker lists it
    {"Id": "sha256:" + "1" * 64, "Created": 1714979289, "CreatedBy": "COPY app", "Size": 1234, "Comment": "app"},
    {"Id": "<missing>", "Created": -62135596800, "CreatedBy": "ENV A=b", "Size": 0, "Comment": ""},
    {"Id": "<missing>", "Created": 0, "CreatedBy": "ADD rootfs", "Size": 99, "Comment": "base"},
]


def test_config_as_ggcr_computes_it() -> None:
    config = json.loads(ggcr_config_file(INSPECT, HISTORY, "t").to_bytes())
    assert config == {
        "architecture": "arm",  # no variant: ggcr does not copy it
        "author": "someone",
        "created": "2024-05-06T07:08:09.12345678Z",
        "history": [
            {"author": "someone", "created": "2024-05-06T07:08:09Z", "created_by": "COPY app", "comment": "app"},
            {"author": "someone", "created": "0001-01-01T00:00:00Z", "created_by": "ENV A=b", "empty_layer": True},
            {"author": "someone", "created": "1970-01-01T00:00:00Z", "created_by": "ADD rootfs", "comment": "base"},
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": INSPECT["RootFS"]["Layers"]},
        "config": {  # ExposedPorts dropped, as ggcr's copy loop over its own empty map does
            "Cmd": ["serve"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
            "Env": ["PATH=/usr/bin", "A=b"],
            "Labels": {"a": "1", "b": "2"},
            "User": "65532",
            "Volumes": {"/cache": {}, "/data": {}},
            "WorkingDir": "/home",
            "StopSignal": "SIGTERM",
        },
    }


def test_no_config_and_an_unreadable_time() -> None:
    bare = {**INSPECT, "Config": None}
    assert json.loads(ggcr_config_file(bare, [], "t").to_bytes())["config"] == {}
    with pytest.raises(DaemonError, match=r"^the image x: Created: '' is not an RFC 3339 time"):
        ggcr_config_file({**INSPECT, "Created": ""}, [], "the image x")
