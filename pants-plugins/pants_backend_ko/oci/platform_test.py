"""Platform parsing, Go build variables, ko's matching rule and JSON shape."""

from __future__ import annotations

import subprocess

import pytest

from pants_backend_ko.golang import gojson
from pants_backend_ko.oci.platform import GO_DIST_LIST, Platform


def test_parse_and_str_round_trip() -> None:
    for text in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/amd64/v3", "windows/amd64", "linux/s390x"]:
        assert str(Platform.parse(text)) == text
    p = Platform.parse("linux/arm64/v8")
    assert (p.os, p.architecture, p.variant, p.os_version) == ("linux", "arm64", "v8", None)
    assert Platform.parse(" linux/amd64 ") == Platform("linux", "amd64")


@pytest.mark.parametrize(
    "text, message",
    [
        ("linux", "expected os/arch"),
        ("linux/amd64/v3/x", "expected os/arch"),
        ("linux//v7", "expected os/arch"),
        ("linx/amd64", "unknown os 'linx'"),
        ("linux/x86_64", "unknown architecture 'x86_64'"),
        ("darwin/s390x", "Go cannot build darwin/s390x"),
        ("linux/arm/7", "variant '7' for arm must be"),
        ("linux/arm/v4", "GOARM 5, 6 and 7"),
        ("linux/amd64/v5", "must be v1, v2, v3 or v4"),
        ("linux/arm64/v7", "must be v8"),
        ("linux/riscv64/x y", "variant 'x y'"),
    ],
)
def test_parse_errors_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        Platform.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert repr(text.strip()) in str(info.value) or repr(text) in str(info.value)


def test_dist_list_is_what_go_says() -> None:
    # The hard-coded list must be the toolchain's (Go 1.26 on this machine).
    out = subprocess.run(["go", "tool", "dist", "list"], capture_output=True, text=True, timeout=120, check=True)
    assert frozenset(out.stdout.split()) == GO_DIST_LIST


def test_go_env_follows_ko_build_env() -> None:
    assert Platform.parse("linux/amd64").go_env() == {"GOOS": "linux", "GOARCH": "amd64"}
    assert Platform.parse("linux/amd64/v3").go_env() == {"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v3"}
    assert Platform.parse("linux/arm/v6").go_env() == {"GOOS": "linux", "GOARCH": "arm", "GOARM": "6"}
    assert Platform.parse("linux/arm/v7").go_env()["GOARM"] == "7"
    assert Platform.parse("linux/arm/v8").go_env()["GOARM"] == "7"  # clamped, as ko does
    assert Platform.parse("linux/arm64/v8").go_env() == {"GOOS": "linux", "GOARCH": "arm64"}
    # Below v5 ko sets no GOARM (only reachable for platforms read from registries).
    assert "GOARM" not in Platform("linux", "arm", "v4").go_env()
    with pytest.raises(ValueError, match="must be vN"):
        Platform("linux", "arm", "7").go_env()


def test_matches_is_kos_rule() -> None:
    amd64 = Platform("linux", "amd64")
    arm64 = Platform.parse("linux/arm64")
    arm64_v8 = Platform.parse("linux/arm64/v8")
    assert amd64.matches(Platform("linux", "amd64"))
    assert amd64.matches(Platform("linux", "amd64", variant="v2"))  # unset fields match anything
    assert not amd64.matches(arm64)
    assert arm64.matches(arm64_v8)
    assert not arm64_v8.matches(arm64)  # a requested variant must be present
    assert not amd64.matches(None)
    assert not Platform("linux", "").matches(Platform("unknown", "unknown"))
    win = Platform("windows", "amd64", os_version="10.0.17763")
    assert win.matches(Platform("windows", "amd64", os_version="10.0.17763.1234"))
    assert not win.matches(Platform("windows", "amd64", os_version="10.0.17764.1"))
    assert not Platform("linux", "amd64", os_version="1.2.3").matches(Platform("linux", "amd64", os_version="1.2.3.4"))


def test_json_in_ggcr_field_order() -> None:
    full = Platform("windows", "amd64", variant="v3", os_version="10.0.1", os_features=("win32k",), features=("sse4",))
    assert gojson.dumps(full.to_json()) == (
        b'{"architecture":"amd64","os":"windows","os.version":"10.0.1","os.features":["win32k"],'
        b'"variant":"v3","features":["sse4"]}'
    )
    assert (
        gojson.dumps(Platform.parse("linux/arm64/v8").to_json())
        == b'{"architecture":"arm64","os":"linux","variant":"v8"}'
    )
    assert Platform.from_json(full.to_json()) == full
    with pytest.raises(ValueError, match="'os' must be a string"):
        Platform.from_json({"os": 1, "architecture": "amd64"})


def test_hashable_and_frozen() -> None:
    assert len({Platform.parse("linux/amd64"), Platform("linux", "amd64")}) == 1
    with pytest.raises(Exception):
        Platform.parse("linux/amd64").os = "darwin"  # type: ignore[misc]


def test_pattern_parse_for_picking_base_images() -> None:
    # ggcr's ParsePlatform grammar: fields may be left out, os.version follows ':', names are free.
    assert Platform.parse("linux", pattern=True) == Platform("linux", "")
    assert Platform.parse("windows/amd64:10.0.17763", pattern=True) == Platform(
        "windows", "amd64", os_version="10.0.17763"
    )
    assert Platform.parse("plan10/quantum/v1", pattern=True) == Platform("plan10", "quantum", "v1")
    assert Platform.parse("linux", pattern=True).matches(Platform("linux", "s390x"))
    with pytest.raises(ValueError, match="unknown os 'plan10'"):
        Platform.parse("plan10/quantum")
    with pytest.raises(ValueError, match=r"invalid platform 'linux//v7': write it as os/arch\[/variant\]"):
        Platform.parse("linux//v7", pattern=True)


def test_lenient_json_for_registry_content() -> None:
    odd = {"os": "linux", "architecture": 64, "os.features": "not-a-list"}
    assert Platform.from_json(odd, strict=False) == Platform("linux", "64")
    with pytest.raises(ValueError, match="'architecture' must be a string"):
        Platform.from_json(odd)
    assert Platform("linux", "amd64").is_unknown is False and Platform("unknown", "unknown").is_unknown
