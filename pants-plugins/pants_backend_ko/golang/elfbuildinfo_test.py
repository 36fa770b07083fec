"""Build information read from Go binaries (ELF, 64- and 32-bit, stripped) equals `go version -m`'s."""

from __future__ import annotations

from pathlib import Path

import pytest

from pants_backend_ko.golang.elfbuildinfo import build_info_from_binary
from pants_backend_ko.golang.gobuildinfo import GoBuildInfoError, parse_go_version_m
from pants_backend_ko.golang.gobuildinfo_test import build_sample, built_sample, go_version_m


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, str, str]:
    return built_sample(tmp_path_factory)


def test_build_info_from_binary_equals_go_version_m(sample, tmp_path) -> None:
    binary, _, text = sample
    assert build_info_from_binary(binary.read_bytes(), str(binary)) == parse_go_version_m(text)
    # Stripped (-s -w); cross-compiled 64-bit arm64 and 32-bit 386 ELF files.
    stripped, _ = build_sample(tmp_path / "stripped", "-ldflags=-s -w", output="stripped")
    assert build_info_from_binary(stripped.read_bytes(), str(stripped)) == parse_go_version_m(go_version_m(stripped))
    for goarch in ("arm64", "386"):
        other, _ = build_sample(tmp_path / goarch, "-trimpath", output=f"app-{goarch}", goarch=goarch)
        info = build_info_from_binary(other.read_bytes(), str(other))
        assert info == parse_go_version_m(go_version_m(other)) and info.setting("GOARCH") == goarch
    named = build_info_from_binary(binary.read_bytes(), "/ko-app/sbomapp")
    assert named.binary == "/ko-app/sbomapp" and named.deps == parse_go_version_m(text).deps


def test_build_info_from_binary_errors(sample) -> None:
    with pytest.raises(GoBuildInfoError, match="^/bin/sh: not a Go executable"):
        build_info_from_binary(Path("/bin/sh").read_bytes(), "/bin/sh")
    with pytest.raises(GoBuildInfoError, match="not an ELF executable; .* parse_go_version_m"):
        build_info_from_binary(b"MZ" + b"\0" * 100, "app.exe")
    with pytest.raises(GoBuildInfoError, match="truncated"):
        build_info_from_binary(sample[0].read_bytes()[:65536], "cut")  # section headers are at the end
