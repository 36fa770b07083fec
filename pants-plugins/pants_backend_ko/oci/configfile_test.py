"""ggcr's ConfigFile: decoding and re-encoding compared with go-containerregistry v0.21.9."""

from __future__ import annotations

import json

import pytest
from tests.peers.go_reference import b64, ggcr, unb64

from pants_backend_ko.golang.gotime import ZERO_TIME
from pants_backend_ko.oci.configfile import ConfigFile, exposed_ports, volume_paths
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


def test_config_field_access_and_messages() -> None:
    config = ConfigFile.parse(CONFIGS[1].encode())
    assert config.config.cmd == ("/bin/sh", "-c", "echo <hi> && exit")
    assert config.config.labels == {"z": "last", "a": "first & <b>", "m": ""}
    assert config.config.exposed_ports == ("443/tcp", "8080/tcp")
    assert config.config.healthcheck is not None and config.config.healthcheck.interval == 30_000_000_000
    assert config.created == "2023-06-07T08:09:10.123456789Z"
    assert config.history is not None and config.history[2].created == ZERO_TIME
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


def test_ports_as_a_dockerfile_exposes_them() -> None:
    assert exposed_ports(["8080", "8443/TCP", "53/udp", "9000-9002/sctp", "8080/tcp"]) == (
        "53/udp",
        "8080/tcp",
        "8443/tcp",
        "9000/sctp",
        "9001/sctp",
        "9002/sctp",
    )
    assert exposed_ports([]) == ()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("http", "ports: 'http' is not a port; write <port>[/<protocol>] or <first>-<last>[/<protocol>], e.g. 8080"),
        ("80/", "ports: '80/' is not a port; write"),
        ("80/quic", "ports: '80/quic': unknown protocol 'quic'; use tcp, udp, sctp"),
        ("0", "ports: '0': a port is a number from 1 to 65535"),
        ("65536/udp", "ports: '65536/udp': a port is a number from 1 to 65535"),
        ("90-80", "ports: '90-80': the range ends before it starts"),
    ],
)
def test_a_bad_port_is_one_line(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        exposed_ports(["8080", spec])
    assert str(excinfo.value).startswith(message)


def test_volumes_are_absolute_paths() -> None:
    assert volume_paths(["/var/lib/app", "/data", "/data"]) == ("/data", "/var/lib/app")
    for bad in ("data", "", "./x"):
        with pytest.raises(ValueError, match=r"^volumes: .* is not an absolute path in the image, e\.g\. /data$"):
            volume_paths([bad])
