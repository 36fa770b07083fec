"""gotoolchain against the `go` command itself: the GOROOT `go` makes of a toolchain module zip
when `GOTOOLCHAIN` switches to it (a small module zip served from a `file://` proxy, offline)."""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from pants_backend_ko.golang import gotoolchain
from pants_backend_ko.golang.gotoolchain import KnownVersion, ToolchainError

FAKE_RELEASE = "1.99.0"  # newer than any installed Go, so `go` switches to it

# A toolchain module in miniature: every kind of path select.go treats specially.
FAKE_FILES = {
    "bin/go": '#!/bin/sh\necho "fake go $*"\n',
    "bin/gofmt": "#!/bin/sh\n",
    "pkg/tool/{goos}_{goarch}/compile": "#!/bin/sh\n",
    "pkg/tool/{goos}_{goarch}/sub/link": "#!/bin/sh\n",
    "pkg/include/asm.h": "// header\n",
    "lib/go_js_wasm_exec": "#!/bin/sh\n",
    "lib/go_exec": "not a go_?*_?*_exec name\n",
    "lib/time/zoneinfo.zip": "zip\n",
    "src/_go.mod": "module std\n",
    "src/cmd/_go.mod": "module cmd\n",
    "src/fmt/print.go": "package fmt\n",
    "VERSION": f"go{FAKE_RELEASE}\n",
    "go.env": "GOTOOLCHAIN=local\n",
}


def host_platform() -> tuple[str, str]:
    out = subprocess.run(["go", "env", "GOHOSTOS", "GOHOSTARCH"], capture_output=True, text=True, check=True)
    goos, goarch = out.stdout.split()
    return goos, goarch


def fake_toolchain_zip(release: str, goos: str, goarch: str) -> bytes:
    root = gotoolchain.zip_root(release, goos, goarch)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, text in FAKE_FILES.items():
            # Module zips carry no modes (as the proxy serves them): 0644 for every file.
            info = zipfile.ZipInfo(root + path.format(goos=goos, goarch=goarch), date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, text)
    return buf.getvalue()


def write_file_proxy(proxy: Path, release: str, goos: str, goarch: str, data: bytes) -> Path:
    """A GOPROXY folder serving one toolchain version (`go help goproxy`: .mod and .zip)."""
    folder = proxy / "golang.org" / "toolchain" / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    version = gotoolchain.module_version(release, goos, goarch)
    (folder / f"{version}.mod").write_text("module golang.org/toolchain\n")
    (folder / f"{version}.info").write_text(f'{{"Version":"{version}","Time":"2024-01-01T00:00:00Z"}}\n')
    zip_path = folder / f"{version}.zip"
    zip_path.write_bytes(data)
    return zip_path


def goroot_as_go_makes_it(tmp_path: Path, release: str) -> tuple[Path, str]:
    goos, goarch = host_platform()
    proxy = tmp_path / "proxy"
    write_file_proxy(proxy, release, goos, goarch, fake_toolchain_zip(release, goos, goarch))
    modcache = tmp_path / "modcache"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GOPROXY": f"file://{proxy}",
        "GOSUMDB": "off",
        "GOMODCACHE": str(modcache),
        "GOTOOLCHAIN": f"go{release}",
        "GOENV": "off",
        "GOFLAGS": "",
    }
    out = subprocess.run(["go", "version"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # go leaves the module cache read-only; make it removable (execute bits are untouched).
    subprocess.run(["chmod", "-R", "u+w", str(modcache)], check=True)
    return modcache / gotoolchain.zip_root(release, goos, goarch).rstrip("/"), out.stdout


def test_goroot_is_what_go_makes_of_the_module_zip(tmp_path: Path) -> None:
    root, stdout = goroot_as_go_makes_it(tmp_path, FAKE_RELEASE)
    # go ran the toolchain it unpacked (our bin/go), so it finished its set-up first.
    assert stdout == "fake go version\n"
    by_go = {p.relative_to(root).as_posix(): os.access(p, os.X_OK) for p in root.rglob("*") if p.is_file()}
    goos, goarch = host_platform()
    zip_root = gotoolchain.zip_root(FAKE_RELEASE, goos, goarch)
    ours: dict[str, bool] = {}
    with zipfile.ZipFile(io.BytesIO(fake_toolchain_zip(FAKE_RELEASE, goos, goarch))) as z:
        for name in z.namelist():
            for path in gotoolchain.goroot_paths(name, zip_root):
                ours[path] = gotoolchain.is_executable(path)
    assert ours == by_go
    # The cases that matter, spelled out.
    assert by_go["bin/go"] and by_go[f"pkg/tool/{goos}_{goarch}/sub/link"] and by_go["lib/go_js_wasm_exec"]
    assert not by_go["lib/go_exec"] and not by_go["src/fmt/print.go"]
    assert "src/go.mod" in by_go and "src/cmd/go.mod" in by_go


def test_entries_outside_the_zip_root_are_refused() -> None:
    root = gotoolchain.zip_root("1.26.8", "linux", "amd64")
    assert root == "golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64/"
    with pytest.raises(ToolchainError, match="outside"):
        gotoolchain.goroot_paths("evil/bin/go", root)


@pytest.mark.parametrize(
    "goproxy, proxy",
    [
        (None, "https://proxy.golang.org"),
        ("", "https://proxy.golang.org"),
        ("https://proxy.golang.org,direct", "https://proxy.golang.org"),
        ("https://corp.example/go/|https://proxy.golang.org", "https://corp.example/go"),
        ("direct,file:///srv/goproxy", "file:///srv/goproxy"),
    ],
)
def test_the_toolchain_comes_from_the_first_proxy_of_goproxy(goproxy, proxy) -> None:
    assert gotoolchain.toolchain_proxy(goproxy) == proxy


@pytest.mark.parametrize(
    "goproxy, says", [("off", "forbids"), ("direct", "names no module proxy"), ("ftp://x", "not an http")]
)
def test_goproxy_without_a_usable_proxy_says_what_to_do(goproxy, says) -> None:
    with pytest.raises(ToolchainError, match=says):
        gotoolchain.toolchain_proxy(goproxy)


def test_url_of_a_release() -> None:
    url = gotoolchain.zip_url("https://proxy.golang.org", "1.26.8", "linux", "arm64")
    assert url == "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go1.26.8.linux-arm64.zip"


def test_releases_and_known_version_entries() -> None:
    assert gotoolchain.parse_release("go1.26.8") == "1.26.8"
    assert gotoolchain.parse_release("1.27rc1") == "1.27rc1"
    for bad in ("1.26", "latest", "go1", "1.26.8.linux-amd64"):
        with pytest.raises(ToolchainError, match="not a Go release"):
            gotoolchain.parse_release(bad)
    entry = KnownVersion.parse(f"1.26.8|linux_x86_64|{'0' * 64}|123")
    assert entry == KnownVersion("1.26.8", "linux_x86_64", "0" * 64, 123)
    with pytest.raises(ToolchainError, match="version\\|platform\\|sha256\\|size"):
        KnownVersion.parse("1.26.8|linux_x86_64")
    with pytest.raises(ToolchainError, match="64 lower-case hex"):
        KnownVersion.parse("1.26.8|linux_x86_64|abc|123")
