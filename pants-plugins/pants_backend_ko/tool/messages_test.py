from __future__ import annotations

import json

import pytest

from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.oci.remote.limits import TransportLimits
from pants_backend_ko.oci.remote.state import RegistryState, RepositoryQuery
from pants_backend_ko.tool.messages import (
    DAEMON,
    SBOM,
    Attachment,
    BaseDescription,
    BaseFetch,
    BasePlatformImage,
    DeployPlan,
    ImagePush,
    PushPlan,
    StatusQuery,
    blob_path,
    error_from_stderr,
    error_line,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

PUSH = PushPlan(
    images=(
        ImagePush(
            layout="images/0",
            repository="reg.example/app",
            tags=("v1", "latest"),
            blob_sources=((D1, "docker.io/library/base"),),
            attachments=(Attachment(SBOM, D2, "sboms/0/app.spdx.json"),),
        ),
        ImagePush(layout="images/1", repository="reg.example/other"),
        ImagePush(layout="images/2", repository="ko.local/app-x", tags=("latest",), kind=DAEMON, image=D2),
    ),
    jobs=3,
    insecure_registries=("reg.example",),
    transport=TransportLimits(timeout=7.5, min_speed=0),
)

MESSAGES = [
    PUSH,
    PushPlan(),
    DeployPlan(target="deploy:apply", verb="apply", manifest="rendered.yaml", kubectl_args=("-n", "x"), push=PUSH),
    StatusQuery((RepositoryQuery("reg.example/app", ("v1",), (D1,)),), sbom=True, insecure_registries=("r",), jobs=2),
    BaseFetch(reference="reg.example/base:v1", platforms=("linux/amd64", "all"), layers=False, cache_dir=".cache"),
    BaseFetch(reference="reg.example/base:v1", transport=TransportLimits(timeout=3, min_speed=1)),
    StatusQuery((), sbom=False, transport=TransportLimits(timeout=120.0, min_speed=0)),
    BaseFetch(layout="layouts/base", platforms=("linux/arm64",)),
    BaseFetch(daemon="ko.local/base:v1", platforms=("linux/amd64",)),
    StatusQuery((), sbom=False, daemon_repositories=("ko.local/app-x",)),
    BaseDescription(
        reference="reg.example/base:v1",
        name="reg.example/base:v1",
        registry="reg.example",
        repository="base",
        digest=D1,
        media_type="application/vnd.oci.image.index.v1+json",
        is_index=True,
        images=(BasePlatformImage("linux/amd64", D2, "application/vnd.oci.image.manifest.v1+json", D1, (D1, D2)),),
    ),
    RegistryState({"reg.example/app:v1": D1, "reg.example/app:v2": None}, {f"reg.example/app@{D1}": ""}),
    RegistryState({}, {}, daemon={"ko.local/app-x:latest": D1}),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_each_message_reads_back_as_it_was_written(message) -> None:
    data = encode(message)
    assert decode(type(message), data, "m.json") == message
    assert encode(decode(type(message), data, "m.json")) == data  # the same message, the same bytes


def test_a_wrong_field_is_one_line_naming_file_and_field() -> None:
    doc = PUSH.to_json()
    doc["images"][0]["tags"] = "v1"
    with pytest.raises(MessageError) as excinfo:
        decode(PushPlan, json.dumps(doc).encode(), "ko-publish/plan.json")
    assert str(excinfo.value) == "ko-publish/plan.json: images[0]: tags must be a list, got 'v1'"
    doc["images"][0]["tags"] = ["v1", 2]
    with pytest.raises(MessageError, match=r"^plan.json: images\[0\]: tags\[1\] must be a string, got 2$"):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    doc["images"][0]["tags"] = ["v1"]
    doc["images"][0]["blob_sources"] = [["sha256:x"]]
    with pytest.raises(MessageError, match=r"^plan.json: images\[0\]: blob_sources\[0\] must be a list of 2, got "):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    doc["images"][0]["blob_sources"] = []

    del doc["images"][0]["repository"]
    with pytest.raises(MessageError, match=r"^plan.json: images\[0\]: the field 'repository' is missing$"):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    with pytest.raises(MessageError, match=r"^plan.json: not JSON \("):
        decode(PushPlan, b"{", "plan.json")
    with pytest.raises(MessageError, match=r"^answer: expected a JSON object, got a list$"):
        decode(RegistryState, b"[]", "answer")
    with pytest.raises(MessageError, match=r"^answer: complete\['a'\] must be a string, got None$"):
        decode(RegistryState, b'{"tags": {}, "complete": {"a": null}}', "answer")
    with pytest.raises(MessageError, match=r"^query.json: jobs must be an integer, got True$"):
        decode(StatusQuery, b'{"repositories": [], "sbom": true, "jobs": true}', "query.json")


def test_transport_limits_travel_in_every_registry_request() -> None:
    # The rules fill `transport` from [ko].registry_timeout/registry_min_speed; a file without it
    # (written by hand) gets the defaults, and limits that bound nothing are refused by field.
    assert json.loads(encode(PUSH))["transport"] == {"timeout": 7.5, "min_speed": 0}
    assert decode(StatusQuery, b'{"repositories": [], "sbom": false}', "q.json").transport == TransportLimits()
    doc = PUSH.to_json()
    doc["transport"]["timeout"] = 0
    with pytest.raises(MessageError) as excinfo:
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    assert (
        str(excinfo.value) == "plan.json: transport: the registry timeout must be a positive number of seconds, got 0.0"
    )
    doc = BaseFetch(reference="r/b:v1").to_json()
    doc["transport"] = {"min_speed": "fast"}
    with pytest.raises(MessageError, match=r"^base.json: transport: min_speed must be an integer, got 'fast'$"):
        decode(BaseFetch, json.dumps(doc).encode(), "base.json")


def test_a_kind_this_tool_does_not_know_is_refused_not_ignored() -> None:
    doc = PUSH.to_json()
    doc["images"][1]["kind"] = "podman"
    with pytest.raises(MessageError) as excinfo:
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    assert str(excinfo.value) == (
        "plan.json: images[1]: kind 'podman' is not one this tool knows (registry, daemon); "
        "run the tool that came with the Pants rules that wrote the file"
    )
    doc = PUSH.to_json()
    doc["images"][0]["attachments"][0]["kind"] = "signature"
    with pytest.raises(MessageError, match=r"images\[0\]: attachments\[0\]: kind 'signature' is not one"):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")


def test_a_daemon_load_names_the_image_it_loads_and_nothing_else() -> None:
    doc = PUSH.to_json()
    doc["images"][2]["image"] = ""
    with pytest.raises(MessageError, match=r"^plan.json: images\[2\]: image: '' is not a sha256 digest"):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    doc["images"][2]["image"] = D2
    doc["images"][2]["attachments"] = doc["images"][0]["attachments"]
    with pytest.raises(
        MessageError, match=r"^plan.json: images\[2\]: a daemon load has no blob sources, attachments or provenance"
    ):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")
    doc["images"][1]["image"] = D2
    with pytest.raises(MessageError, match=r"^plan.json: images\[1\]: only a daemon load names one `image`"):
        decode(PushPlan, json.dumps(doc).encode(), "plan.json")


def test_a_base_fetch_names_one_source() -> None:
    def fetch(reference: str | None = None, layout: str | None = None, daemon: str | None = None) -> BaseFetch:
        return BaseFetch(reference=reference, layout=layout, daemon=daemon)

    for reference, layout, daemon in (("a:b", "c", None), (None, "c", "ko.local/b"), (None, None, None)):
        with pytest.raises(MessageError, match="one of a registry reference, a layout folder or a Docker daemon"):
            fetch(reference, layout, daemon)


def test_error_lines() -> None:
    assert error_line("registry r: GET /v2/:\n 500") == "error: registry r: GET /v2/: 500"
    assert error_from_stderr(b"INFO something\nerror: it broke\n", 1) == "it broke"
    assert error_from_stderr(b"Traceback...\nKeyError: 'x'\n", 1) == "KeyError: 'x'"
    assert error_from_stderr(b"", 137) == "exit code 137"
    assert blob_path(D1) == "blobs/sha256/" + "1" * 64
