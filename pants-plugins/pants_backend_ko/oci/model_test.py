"""The ggcr struct model: decoding and re-encoding compared with go-containerregistry v0.21.9."""

from __future__ import annotations

import json

import pytest
from tests.peers.go_reference import b64, ggcr, unb64

from pants_backend_ko.golang import gojson
from pants_backend_ko.golang.gotime import ZERO_TIME
from pants_backend_ko.oci.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    BaseImage,
    ConfigFile,
    Descriptor,
    FrozenDict,
    ImageIndex,
    ImageManifest,
    digest_of,
)
from pants_backend_ko.oci.platform import Platform

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

CONFIGS = [
    # A distroless/Chainguard-style OCI config.
    json.dumps(
        {
            "architecture": "amd64",
            "author": "github.com/chainguard-dev/apko",
            "created": "2024-01-02T03:04:05Z",
            "history": [{"author": "apko", "created": "2024-01-02T03:04:05Z", "created_by": "apko", "comment": "x"}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [D1]},
            "config": {
                "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                ],
                "User": "65532",
                "WorkingDir": "/home/nonroot",
            },
        }
    ),
    # A Docker-built config: container_config and other unknown fields disappear.
    json.dumps(
        {
            "architecture": "arm64",
            "variant": "v8",
            "config": {
                "Hostname": "",
                "Domainname": "",
                "User": "",
                "AttachStdin": False,
                "AttachStdout": True,
                "Tty": False,
                "OpenStdin": False,
                "Env": ["PATH=/bin", None],
                "Cmd": ["/bin/sh", "-c", "echo <hi> && exit"],
                "Image": "sha256:" + "3" * 64,
                "Volumes": {"/data": {}, "/a": {"ignored": 1}},
                "WorkingDir": "",
                "Entrypoint": None,
                "OnBuild": None,
                "Labels": {"z": "last", "a": "first & <b>", "m": None},
                "ExposedPorts": {"8080/tcp": {}, "443/tcp": {}},
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
                "ArgsEscaped": True,
                "StopSignal": "SIGTERM",
                "Shell": ["/bin/bash", "-c"],
                "MacAddress": "aa:bb",
                "NetworkDisabled": True,
                "StdinOnce": True,
            },
            "container": "abc123",
            "container_config": {"Hostname": "abc123", "Cmd": ["/bin/sh"]},
            "created": "2023-06-07T08:09:10.123456789Z",
            "docker_version": "20.10.7",
            "history": [
                {"created": "2023-06-07T08:09:10.1Z", "created_by": "/bin/sh -c #(nop) ADD file", "empty_layer": False},
                {
                    "created": "2023-06-07T08:09:11.100Z",
                    "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                    "empty_layer": True,
                },
                None,
            ],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
            "moby.buildkit.buildinfo.v1": "eyJ9",
        }
    ),
    # Keys in other cases (Go matches case-insensitively), duplicates (last wins), nulls.
    '{"Architecture":"amd64","OS":"linux","os":"linux2","Config":{"env":["A=1"],"USER":"root","labels":null},'
    '"RootFS":{"Type":"layers","Diff_IDs":[]},"history":null,"created":null,"OS.Version":"10.0",'
    '"os.features":["f1"],"osversion":"dropped","throwaway":true}',
    # Time zones and fractions as Go re-writes them; U+2028 and a lone surrogate escape.
    '{"architecture":"amd64","os":"linux","created":"2020-02-29T23:59:59.5000+05:30",'
    '"history":[{"created":"1999-12-31T23:00:00-00:00","comment":"line\\u2028sep \\ud800 end"},'
    '{"created":"2000-01-01T00:00:00.1234567891234+00:00"},{"created":"0001-01-01T00:00:00Z"}],'
    '"rootfs":{"type":"layers"},"config":{}}',
    # Minimal and empty.
    "{}",
    '{"architecture":"","os":"","rootfs":{"type":"","diff_ids":null},"config":{"Entrypoint":[],"Cmd":[]}}',
    # Kelvin sign folds to "k" in Go: "\u212aey" is not a field, but "ExposedPorts" via folding is.
    '{"architecture":"amd64","os":"linux","config":{"EXPOSEDPORTS":{"53/udp":null}}}',
]

BAD_CONFIGS = [
    '{"architecture": 1}',
    '{"created": "yesterday"}',
    '{"created": "2023-02-30T00:00:00Z"}',
    '{"rootfs": {"diff_ids": ["sha256:abc"]}}',
    '{"rootfs": {"diff_ids": [null]}}',
    '{"config": {"Healthcheck": {"Interval": 1.5}}}',
    '{"config": {"Env": "PATH=/bin"}}',
    '{"config": {"Labels": {"a": 1}}}',
    '{"config": {"Volumes": {"/a": 1}}}',
    '{"history": [1]}',
    "[]",
    '{"architecture": "amd64",}',
]

MANIFESTS = [
    json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": 100, "digest": D1, "data": "e30=", "unknown": 1},
            "layers": [
                {
                    "mediaType": OCI_LAYER_GZIP,
                    "size": 5,
                    "digest": D2,
                    "urls": ["https://example.com/x"],
                    "annotations": {"z": "1", "a": "<2>"},
                    "platform": {"os": "linux", "architecture": "amd64", "variant": "v2", "os.features": ["x"]},
                    "artifactType": "application/x",
                }
            ],
            "annotations": {"org.opencontainers.image.created": "now", "b": "&"},
            "subject": {"mediaType": OCI_MANIFEST, "size": 1, "digest": D1},
            "artifactType": "application/vnd.example",
            "extra": {"dropped": True},
        }
    ),
    json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": 1469, "digest": D1},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": 2807, "digest": D2}],
        }
    ),
    '{"schemaVersion":2,"config":{"mediaType":"' + OCI_CONFIG + '","size":2,"digest":"' + D1 + '"},"layers":[]}',
]


def test_config_reencoding_matches_ggcr() -> None:
    reference = ggcr({"configs": [b64(c.encode()) for c in CONFIGS]})["configs"]
    for text, ref in zip(CONFIGS, reference):
        assert not ref.get("error"), (text, ref)
        assert ConfigFile.parse(text.encode()).to_bytes() == unb64(ref["ok"]), text


def test_bad_configs_fail_in_go_and_here() -> None:
    reference = ggcr({"configs": [b64(c.encode()) for c in BAD_CONFIGS]})["configs"]
    for text, ref in zip(BAD_CONFIGS, reference):
        assert ref.get("error"), f"Go accepted {text}"
        with pytest.raises(ValueError) as info:
            ConfigFile.parse(text.encode())
        assert "\n" not in str(info.value)


def test_manifest_reencoding_matches_ggcr() -> None:
    reference = ggcr({"manifests": [b64(m.encode()) for m in MANIFESTS]})["manifests"]
    for text, ref in zip(MANIFESTS, reference):
        assert not ref.get("error"), (text, ref)
        assert ImageManifest.parse(text.encode()).to_bytes() == unb64(ref["ok"]), text


def test_config_field_access_and_messages() -> None:
    config = ConfigFile.parse(CONFIGS[1].encode())
    assert config.config.cmd == ("/bin/sh", "-c", "echo <hi> && exit")
    assert config.config.labels == {"z": "last", "a": "first & <b>", "m": ""}
    assert config.config.exposed_ports == ("443/tcp", "8080/tcp")
    assert config.config.healthcheck.interval == 30_000_000_000
    assert config.created == "2023-06-07T08:09:10.123456789Z"
    assert config.history[2].created == ZERO_TIME
    assert config.platform == Platform("linux", "arm64", "v8")
    with pytest.raises(ValueError, match=r"image config\.config\.Env: expected an array of strings, got a string"):
        ConfigFile.parse(b'{"config": {"Env": "PATH=/bin"}}')
    with pytest.raises(ValueError, match=r"rootfs\.diff_ids\[0\]: 'sha256:abc' is not a sha256 digest"):
        ConfigFile.parse(b'{"rootfs": {"diff_ids": ["sha256:abc"]}}')


def test_scratch_config_for_platform() -> None:
    config = ConfigFile.for_platform(Platform.parse("linux/arm/v7"))
    assert config.to_bytes() == (
        b'{"architecture":"arm","created":"0001-01-01T00:00:00Z","os":"linux",'
        b'"rootfs":{"type":"layers","diff_ids":null},"config":{},"variant":"v7"}'
    )


def test_descriptor_shape_and_validation() -> None:
    desc = Descriptor(
        media_type=OCI_MANIFEST,
        size=3,
        digest=D1,
        annotations={"b": "2", "a": "1"},
        platform=Platform.parse("linux/arm64/v8"),
        artifact_type=OCI_CONFIG,
    )
    assert gojson.dumps(desc.to_json()) == (
        b'{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"' + D1.encode() + b'",'
        b'"annotations":{"a":"1","b":"2"},"platform":{"architecture":"arm64","os":"linux","variant":"v8"},'
        b'"artifactType":"application/vnd.oci.image.config.v1+json"}'
    )
    assert hash(desc) == hash(
        Descriptor(
            media_type=OCI_MANIFEST,
            size=3,
            digest=D1,
            annotations=FrozenDict(b="2", a="1"),
            platform=Platform("linux", "arm64", "v8"),
            artifact_type=OCI_CONFIG,
        )
    )
    with pytest.raises(ValueError, match="size: -1 is negative"):
        ImageManifest.parse(b'{"schemaVersion":2,"config":{"mediaType":"x","size":-1,"digest":"' + D1.encode() + b'"}}')
    with pytest.raises(ValueError, match="not an image manifest"):
        ImageManifest.parse(b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}')
    with pytest.raises(ValueError, match="schemaVersion is 1"):
        ImageIndex.parse(b'{"schemaVersion":1,"manifests":[]}')


def test_base_image_from_manifest() -> None:
    config = CONFIGS[0].encode()
    manifest = gojson.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": digest_of(config)},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": 5, "digest": D2}],
            "annotations": {"k": "v"},
        }
    )
    base = BaseImage.from_manifest(manifest, config, name="cgr.dev/chainguard/static:latest")
    assert base.digest == digest_of(manifest)
    assert base.layer_media_type == DOCKER_LAYER_GZIP
    assert base.effective_config_media_type == DOCKER_CONFIG
    assert base.layers == (Descriptor(media_type=DOCKER_LAYER_GZIP, size=5, digest=D2),)
    assert base.manifest_annotations == {"k": "v"}
    assert base.config_file().config.user == "65532"
    with pytest.raises(ValueError, match="does not match the manifest's"):
        BaseImage.from_manifest(manifest, config + b" ")
    with pytest.raises(ValueError, match="was served as"):
        BaseImage.from_manifest(manifest, config, media_type=OCI_MANIFEST)
    bare = manifest.replace(b'"mediaType":"' + DOCKER_MANIFEST.encode() + b'",', b"")
    with pytest.raises(ValueError, match="pass media_type="):
        BaseImage.from_manifest(bare, config)
    assert BaseImage.from_manifest(bare, config, media_type=DOCKER_MANIFEST).omit_media_type_field
    with pytest.raises(ValueError, match="needs a platform"):
        BaseImage(media_type=OCI_MANIFEST, config=None)
    with pytest.raises(ValueError, match="not an image manifest"):
        BaseImage(media_type="application/json", config=b"{}")
    scratch = BaseImage.scratch(Platform.parse("linux/amd64"))
    assert hash(scratch) == hash(BaseImage.scratch(Platform("linux", "amd64")))
    assert scratch.layer_media_type == OCI_LAYER_GZIP
