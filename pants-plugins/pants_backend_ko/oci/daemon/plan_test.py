"""The load request and outcome survive their JSON codec (both sides of the process boundary)."""

from __future__ import annotations

import json
from pathlib import Path

from pants_backend_ko.oci.daemon.plan import LoadFailure, LoadOutcome, LoadRequest, LocalImage, LocalResult


def test_request_round_trip_and_relative_layouts() -> None:
    request = LoadRequest(
        images=(
            LocalImage(Path("dist/server"), "ko.local/server-x", ("latest", "v1"), "src/go/cmd/server:server"),
            LocalImage(Path("/abs/worker"), "ko.local/worker-y", (), "src/go/cmd/worker:worker"),
        ),
        goos="linux",
        goarch="arm64",
    )
    data = json.loads(json.dumps(request.to_json()))
    assert LoadRequest.from_json(data) == request
    moved = LoadRequest.from_json(data, relative_to=Path("/plans"))
    assert [i.layout for i in moved.images] == [Path("/plans/dist/server"), Path("/abs/worker")]


def test_outcome_round_trip() -> None:
    outcome = LoadOutcome(
        results=(LocalResult("ko.local/a:ff", "sha256:" + "1" * 64, "linux/amd64", True, ("ko.local/a:ff",), "a"),),
        failures=(LoadFailure("b", "the image has no linux/s390x platform"),),
    )
    assert LoadOutcome.from_json(json.loads(json.dumps(outcome.to_json()))) == outcome
