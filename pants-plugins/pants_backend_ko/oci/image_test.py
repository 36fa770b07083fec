"""build_image / build_index byte for byte against ko's steps run on go-containerregistry v0.21.9.

The Go reference (tests/peers/go_reference.py) rebuilds each image with ko's own sequence:
`mutate.Annotations` on the base, `mutate.Append` of our two gzip layers with ko's history,
ko's config edits, `mutate.ConfigFile`, and for indexes `mutate.AppendManifests` on an empty
index. Our layers are fed to it, so layer digests agree and every manifest, config and index
byte can be compared.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from tests.peers.go_reference import b64, ggcr, unb64

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.frozendict import FrozenDict
from pants_backend_ko.oci.base import BaseImage
from pants_backend_ko.oci.configfile import ConfigFile, exposed_ports
from pants_backend_ko.oci.digest import digest_of
from pants_backend_ko.oci.image import (
    ANNOTATION_BASE_DIGEST,
    ANNOTATION_BASE_NAME,
    BuiltImage,
    app_filename,
    base_index_digest,
    build_image,
    build_index,
)
from pants_backend_ko.oci.layers import EMPTY_KODATA_DIFF_ID
from pants_backend_ko.oci.manifest import Descriptor, ImageIndex, ImageManifest
from pants_backend_ko.oci.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from pants_backend_ko.oci.platform import Platform

AMD64 = Platform.parse("linux/amd64")
ARM64 = Platform.parse("linux/arm64")
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64

DOCKER_BASE_CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Labels": {"maintainer": "someone <x@example.com>"},
            "ExposedPorts": {"80/tcp": {}},  # `ports` and `volumes` add to these
            "Volumes": {"/base": {}},
        },
        "container_config": {"Cmd": ["/bin/sh", "-c", '#(nop) CMD ["sh"]']},
        "created": "2023-05-19T20:19:19.123456789Z",
        "docker_version": "20.10.23",
        "history": [
            {"created": "2023-05-19T20:19:18Z", "created_by": "ADD file in /"},
            {"created": "2023-05-19T20:19:19Z", "created_by": 'CMD ["sh"]', "empty_layer": True},
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [D1]},
    }
).encode()

OCI_BASE_CONFIG = json.dumps(
    {
        "architecture": "arm64",
        "variant": "v8",
        "author": "github.com/chainguard-dev/apko",
        "created": "2024-01-02T03:04:05Z",
        "history": [{"author": "apko", "created": "2024-01-02T03:04:05Z", "created_by": "apko", "comment": "x"}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
        "config": {
            "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "User": "65532",
            "WorkingDir": "/home/nonroot",
        },
    }
).encode()


def _manifest_for(config: bytes, media_type: str, config_media_type: str, layers, annotations=None) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_media_type, "size": len(config), "digest": digest_of(config)},
        "layers": layers,
    }
    if annotations:
        manifest["annotations"] = annotations
    return gojson.dumps(manifest)


def _scratch_manifest(platform: Platform) -> tuple[bytes, bytes]:
    config = ConfigFile.for_platform(platform).to_bytes()
    return _manifest_for(config, OCI_MANIFEST, OCI_CONFIG, []), config


DOCKER_BASE_MANIFEST = _manifest_for(
    DOCKER_BASE_CONFIG, DOCKER_MANIFEST, DOCKER_CONFIG, [{"mediaType": DOCKER_LAYER_GZIP, "size": 2807, "digest": D3}]
)
OCI_BASE_MANIFEST = _manifest_for(
    OCI_BASE_CONFIG,
    OCI_MANIFEST,
    OCI_CONFIG,
    [{"mediaType": OCI_LAYER_GZIP, "size": 10, "digest": D2}, {"mediaType": OCI_LAYER_GZIP, "size": 20, "digest": D3}],
    annotations={"org.opencontainers.image.created": "2024-01-02", ANNOTATION_BASE_NAME: "overwritten"},
)


def _case(name, base_manifest, base_config, base: BaseImage, **kwargs):
    return {"name": name, "base_manifest": base_manifest, "base_config": base_config, "base": base, "kwargs": kwargs}


def _cases():
    scratch_manifest, scratch_config = _scratch_manifest(AMD64)
    arm_manifest, arm_config = _scratch_manifest(ARM64)
    return [
        _case(
            "scratch, nothing else",
            scratch_manifest,
            scratch_config,
            BaseImage.scratch(AMD64),
            platform=AMD64,
            import_path="example.com/hello",
            binaries=[("hello", b"\x7fELF-amd64" * 300)],
        ),
        _case(
            "scratch arm64 with kodata and both epochs",
            arm_manifest,
            arm_config,
            BaseImage.scratch(ARM64),
            platform=ARM64,
            import_path="example.com/cmd/app",
            binaries=[("app", b"\x7fELF-arm64" * 301)],
            kodata_files={"index.html": b"<h1>hi</h1>", "static/app.js": b"1", "static/css/x.css": b""},
            kodata_dirs=["empty"],
            source_date_epoch=1700000000,
            kodata_date_epoch=1600000000,
        ),
        _case(
            "docker base with every option",
            DOCKER_BASE_MANIFEST,
            DOCKER_BASE_CONFIG,
            BaseImage.from_manifest(
                DOCKER_BASE_MANIFEST, DOCKER_BASE_CONFIG, name="index.docker.io/library/busybox:latest"
            ),
            platform=AMD64,
            import_path="github.com/example/tool/v2",
            binaries=[("v2", b"bin" * 999)],
            kodata_files={"config.yaml": b"a: b\n"},
            source_date_epoch=0,
            user="1000:1000",
            labels={"org.opencontainers.image.source": "https://x/<y>&z", "maintainer": "me"},
            annotations={"team": "infra", ANNOTATION_BASE_DIGEST: "user value loses"},
            env={"GODEBUG": "x=1", "PATH": "/custom"},
            args=["--flag", "value"],
            workdir="/srv",
            ports=["8080", "8443/TCP", "53/udp", "9000-9001/sctp"],
            volumes=["/var/lib/app", "/data"],
        ),
        _case(
            "oci base with manifest annotations, entrypoint and two binaries",
            OCI_BASE_MANIFEST,
            OCI_BASE_CONFIG,
            BaseImage.from_manifest(OCI_BASE_MANIFEST, OCI_BASE_CONFIG, name="cgr.dev/chainguard/static:latest"),
            platform=Platform.parse("linux/arm64/v8"),
            import_path="example.com/multi",
            binaries=[("server", b"s" * 700), ("client", b"c" * 10)],
            entrypoint=["/ko-app/server", "--serve"],
            labels={},
            annotations={"a": "1"},
        ),
    ]


def _reference_request(cases, built):
    builds = []
    for case, image in zip(cases, built):
        kwargs = case["kwargs"]
        kodata_gz, app_gz = (image.blobs[layer.digest] for layer in image.layers[-2:])
        builds.append(
            {
                "base_manifest": b64(case["base_manifest"]),
                "base_config": b64(case["base_config"]),
                "base_media_type": case["base"].media_type,
                "base_name": case["base"].name or "",
                "kodata_gz": b64(kodata_gz),
                "app_gz": b64(app_gz),
                "import_path": kwargs["import_path"],
                "app_path": ", ".join(f"/ko-app/{n}" for n, _ in kwargs["binaries"]),
                "source_date_epoch": kwargs.get("source_date_epoch"),
                "kodata_date_epoch": kwargs.get("kodata_date_epoch"),
                "user": kwargs.get("user") or "",
                "labels": kwargs.get("labels") or {},
                "annotations": kwargs.get("annotations") or {},
                "env": list((kwargs.get("env") or {}).items()),
                "entrypoint": kwargs.get("entrypoint"),
                "args": kwargs.get("args"),
                "workdir": kwargs.get("workdir") or "",
                "exposed_ports": list(exposed_ports(kwargs.get("ports") or ())),
                "volumes": kwargs.get("volumes") or [],
            }
        )
    return builds


@pytest.fixture(scope="module")
def built_cases():
    cases = _cases()
    built = [build_image(case["base"], **case["kwargs"]) for case in cases]
    return cases, built


def test_images_match_ko_on_ggcr(built_cases) -> None:
    cases, built = built_cases
    # The reference's "app_path" is also the history comment; with two binaries ko's entrypoint
    # would be the joined string, so that case passes its entrypoint explicitly.
    reference = ggcr({"builds": _reference_request(cases, built)})["builds"]
    for case, image, ref in zip(cases, built, reference):
        assert not ref.get("error"), (case["name"], ref)
        assert image.config == unb64(ref["config"]), case["name"]
        assert image.manifest == unb64(ref["manifest"]), case["name"]


def test_indexes_match_ko_on_ggcr(built_cases) -> None:
    cases, built = built_cases
    amd, arm = built[0], built[1]
    base_descs = [
        Descriptor(
            media_type=OCI_MANIFEST, size=1, digest=D1, urls=("https://mirror/x",), annotations=FrozenDict({"k": "v"})
        ),
        None,
    ]
    ours = [
        build_index([(amd, AMD64), (arm, ARM64)]),
        build_index(
            [(amd, AMD64), (arm, ARM64)],
            media_type=OCI_INDEX,
            annotations={ANNOTATION_BASE_NAME: "cgr.dev/chainguard/static", ANNOTATION_BASE_DIGEST: D2, "z": "<&>"},
            base_descriptors=base_descs,
        ),
        build_index([(arm, ARM64), (amd, AMD64)], media_type=DOCKER_MANIFEST_LIST),
    ]

    def child(i, platform, desc):
        return {
            "build": i,
            "platform": platform.to_json(),
            "base_desc": None if desc is None else desc.to_json(),
        }

    request = {
        "builds": _reference_request(cases, built),
        "indexes": [
            {"media_type": OCI_INDEX, "annotations": {}, "children": [child(0, AMD64, None), child(1, ARM64, None)]},
            {
                "media_type": OCI_INDEX,
                "annotations": {
                    ANNOTATION_BASE_NAME: "cgr.dev/chainguard/static",
                    ANNOTATION_BASE_DIGEST: D2,
                    "z": "<&>",
                },
                "children": [child(0, AMD64, base_descs[0]), child(1, ARM64, None)],
            },
            {
                "media_type": DOCKER_MANIFEST_LIST,
                "annotations": {},
                "children": [child(1, ARM64, None), child(0, AMD64, None)],
            },
        ],
    }
    reference = ggcr(request)["indexes"]
    for index, ref in zip(ours, reference):
        assert not ref.get("error"), ref
        assert index.manifest == unb64(ref["ok"])
        assert index.descriptor.digest == digest_of(index.manifest)


def test_image_contents_follow_ko(built_cases) -> None:
    _, built = built_cases
    plain, with_kodata, docker, multi = built
    config = json.loads(plain.config)
    assert config["config"] == {"Entrypoint": ["/ko-app/hello"], "Env": ["PATH=/ko-app", "KO_DATA_PATH=/var/run/ko"]}
    assert config["author"] == "github.com/ko-build/ko"
    assert config["created"] == "0001-01-01T00:00:00Z"
    assert [h["comment"] for h in config["history"]] == [
        "kodata contents, at $KO_DATA_PATH",
        "go build output, at /ko-app/hello",
    ]
    assert {h["created_by"] for h in config["history"]} == {"ko build ko://example.com/hello"}
    assert plain.layers_diff_ids[0] == EMPTY_KODATA_DIFF_ID
    assert [layer.media_type for layer in plain.layers] == [OCI_LAYER_GZIP] * 2
    assert set(plain.blobs) == {plain.config_descriptor.digest, *(layer.digest for layer in plain.layers)}
    assert "annotations" not in json.loads(plain.manifest)  # scratch has no base name

    config = json.loads(with_kodata.config)
    assert config["created"] == "2023-11-14T22:13:20Z"  # SOURCE_DATE_EPOCH, in UTC
    assert [h["created"] for h in config["history"]] == ["2020-09-13T12:26:40Z", "2023-11-14T22:13:20Z"]
    kodata_tar = gzip.decompress(with_kodata.blobs[with_kodata.layers[0].digest])
    assert digest_of(kodata_tar) == with_kodata.layers_diff_ids[0]
    assert b"/var/run/ko/static/css/x.css" in kodata_tar

    config = json.loads(docker.config)
    manifest = json.loads(docker.manifest)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [layer["mediaType"] for layer in manifest["layers"]] == [DOCKER_LAYER_GZIP] * 3
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    assert manifest["annotations"][ANNOTATION_BASE_NAME] == "index.docker.io/library/busybox:latest"
    assert manifest["annotations"][ANNOTATION_BASE_DIGEST] == digest_of(DOCKER_BASE_MANIFEST)
    assert config["config"]["Cmd"] == ["--flag", "value"]
    assert config["config"]["Env"] == ["KO_DATA_PATH=/var/run/ko", "GODEBUG=x=1", "PATH=/custom"]
    assert config["config"]["User"] == "1000:1000" and config["config"]["WorkingDir"] == "/srv"
    # `ports`/`volumes` join the base's: maps to empty objects, keys sorted, as ggcr's v1.Config writes them.
    assert config["config"]["ExposedPorts"] == {
        "53/udp": {},
        "80/tcp": {},
        "8080/tcp": {},
        "8443/tcp": {},
        "9000/sctp": {},
        "9001/sctp": {},
    }
    assert b'"Volumes":{"/base":{},"/data":{},"/var/lib/app":{}},"WorkingDir":"/srv","ExposedPorts":{"53/udp"' in (
        docker.config
    )
    assert "container_config" not in config
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert docker.base_layers == (Descriptor(media_type=DOCKER_LAYER_GZIP, size=2807, digest=D3),)
    assert len(docker.layers_diff_ids) == 3

    config = json.loads(multi.config)
    assert config["config"]["Entrypoint"] == ["/ko-app/server", "--serve"]
    assert config["config"]["Env"] == [
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
        "PATH=/ko-app",
        "KO_DATA_PATH=/var/run/ko",
    ]
    assert config["history"][-1]["comment"] == "go build output, at /ko-app/server, /ko-app/client"
    assert json.loads(multi.manifest)["annotations"][ANNOTATION_BASE_NAME] == "cgr.dev/chainguard/static:latest"


def test_builds_are_reproducible() -> None:
    case = _cases()[2]
    first = build_image(case["base"], **case["kwargs"])
    second = build_image(case["base"], **case["kwargs"])
    assert first == second
    assert hash(first) == hash(second)


def test_app_filename_follows_ko() -> None:
    assert app_filename("github.com/google/ko/cmd/ko") == "ko"
    assert app_filename("example.com/foo/v2") == "v2"
    assert app_filename("ko://example.com/x/") == "x"
    assert app_filename(".") == "ko-app"
    assert app_filename("/") == "ko-app"


def test_build_errors_are_clear() -> None:
    kwargs: dict[str, Any] = dict(platform=AMD64, import_path="example.com/x", binaries=[("x", b"1")])
    with pytest.raises(ValueError, match="is linux/amd64, not linux/arm64; pick a base for that platform"):
        build_image(BaseImage.scratch(AMD64), **dict(kwargs, platform=ARM64))
    with pytest.raises(ValueError, match="at least one binary"):
        build_image(BaseImage.scratch(AMD64), **dict(kwargs, binaries=[]))
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH must be a non-negative"):
        build_image(BaseImage.scratch(AMD64), **kwargs, source_date_epoch=-5)
    with pytest.raises(ValueError, match="env: variable name 'A=B'"):
        build_image(BaseImage.scratch(AMD64), **kwargs, env={"A=B": "1"})
    with pytest.raises(ValueError, match="workdir must be an absolute path"):
        build_image(BaseImage.scratch(AMD64), **kwargs, workdir="rel")
    with pytest.raises(ValueError, match=r"^ports: '80/xyz': unknown protocol 'xyz'; use tcp, udp, sctp$"):
        build_image(BaseImage.scratch(AMD64), **kwargs, ports=["80", "80/xyz"])
    with pytest.raises(ValueError, match=r"^volumes: 'data' is not an absolute path in the image, e\.g\. /data$"):
        build_image(BaseImage.scratch(AMD64), **kwargs, volumes=["data"])
    with pytest.raises(ValueError, match="args: expected a list of strings"):
        build_image(BaseImage.scratch(AMD64), **kwargs, args="--x")
    with pytest.raises(ValueError, match="Windows images"):
        build_image(
            BaseImage.scratch(Platform("windows", "amd64")), **dict(kwargs, platform=Platform("windows", "amd64"))
        )
    inconsistent = BaseImage.from_manifest(DOCKER_BASE_MANIFEST, DOCKER_BASE_CONFIG)
    object.__setattr__(inconsistent, "layers", inconsistent.layers * 2)
    with pytest.raises(ValueError, match="config lists 1 diff_ids but its manifest 2 layers"):
        build_image(inconsistent, **kwargs)
    image = build_image(BaseImage.scratch(AMD64), **kwargs)
    with pytest.raises(ValueError, match="listed twice"):
        build_index([(image, AMD64), (image, AMD64)])
    with pytest.raises(ValueError, match="index media type"):
        build_index([(image, AMD64)], media_type=OCI_MANIFEST)


def test_index_descriptor_and_children() -> None:
    a = build_image(BaseImage.scratch(AMD64), platform=AMD64, import_path="e.com/x", binaries=[("x", b"a")])
    b = build_image(BaseImage.scratch(ARM64), platform=ARM64, import_path="e.com/x", binaries=[("x", b"b")])
    index = build_index([(a, AMD64), (b, ARM64)], annotations={"k": "v"})
    parsed = ImageIndex.parse(index.manifest)
    assert parsed.manifests is not None
    assert [m.digest for m in parsed.manifests] == [a.digest, b.digest]
    assert [m.platform for m in parsed.manifests] == [AMD64, ARM64]
    assert [m.artifact_type for m in parsed.manifests] == [OCI_CONFIG, OCI_CONFIG]
    assert parsed.annotations == {"k": "v"}
    assert index.children == (a, b)
    assert index.descriptor == Descriptor(
        media_type=OCI_INDEX, size=len(index.manifest), digest=digest_of(index.manifest)
    )
    assert isinstance(index.children[0], BuiltImage)
    assert ImageManifest.parse(a.manifest).layers == a.layers


def test_base_index_digest_is_the_annotated_index_ko_builds_on() -> None:
    # ko's Build annotates an OCI base index before buildAll takes its digest (ggcr's
    # mutate.Annotations re-encodes it); a Docker manifest list is taken as it is.
    a = build_image(BaseImage.scratch(AMD64), platform=AMD64, import_path="e.com/x", binaries=[("x", b"a")])
    b = build_image(BaseImage.scratch(ARM64), platform=ARM64, import_path="e.com/x", binaries=[("x", b"b")])
    cases = [
        build_index([(a, AMD64), (b, ARM64)], annotations={"existing": "kept", "k": "old"}).manifest,
        build_index([(a, AMD64)]).manifest,
        build_index([(a, AMD64), (b, ARM64)], media_type=DOCKER_MANIFEST_LIST).manifest,
    ]
    annotations = {"k": "new", "org.opencontainers.image.base.name": "registry.example/base:v1"}
    answers = ggcr({"annotated_indexes": [{"index": b64(m), "annotations": annotations} for m in cases]})
    for manifest, answer in zip(cases, answers["annotated_indexes"]):
        media_type = json.loads(manifest)["mediaType"]
        ours = base_index_digest(manifest, media_type, annotations)
        if media_type == DOCKER_MANIFEST_LIST:
            assert ours == digest_of(manifest)
        else:
            assert ours == unb64(answer["ok"]).decode() != digest_of(manifest)
