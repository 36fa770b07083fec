"""ko's namer vectors (ko's `pkg/commands/options/publish.go` `MakeNamer`) and KO_DOCKER_REPO validation."""

from __future__ import annotations

import hashlib

import pytest

from pants_backend_ko.oci.naming import (
    image_repository,
    is_valid_tag,
    md5_hex,
    repository_for,
    validate_ko_docker_repo,
    validate_repository,
)

BASE = "registry.example.org/foo/bar"
IMPORT_PATH = "example.org/sample/cmd/example"


def test_md5_vectors():
    assert md5_hex("example.org/sample/cmd/example") == "51d74b7127c5f7495a338df33ecdeb19"
    assert md5_hex("github.com/google/ko/cmd/ko") == "099ba5bcefdead87f92606265fb99ac0"


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("default", "registry.example.org/foo/bar/example-51d74b7127c5f7495a338df33ecdeb19"),
        ("md5", "registry.example.org/foo/bar/example-51d74b7127c5f7495a338df33ecdeb19"),
        ("preserve", "registry.example.org/foo/bar/example.org/sample/cmd/example"),
        ("preserve-import-paths", "registry.example.org/foo/bar/example.org/sample/cmd/example"),
        ("base", "registry.example.org/foo/bar/example"),
        ("base-import-paths", "registry.example.org/foo/bar/example"),
        ("bare", "registry.example.org/foo/bar"),
    ],
)
def test_ko_namer_vectors(mode, expected):
    assert image_repository(BASE, IMPORT_PATH, mode) == expected
    assert repository_for(BASE, IMPORT_PATH, mode) == expected


def test_import_path_is_lowercased_and_stripped_of_ko_scheme():
    got = image_repository("ghcr.io/acme", "ko://GitHub.com/Google/KO/cmd/ko")
    assert got == "ghcr.io/acme/ko-099ba5bcefdead87f92606265fb99ac0"
    assert got.endswith(hashlib.md5(b"github.com/google/ko/cmd/ko").hexdigest())


def test_paths_are_joined_like_go_filepath_join():
    # Trailing slashes on the base and ./ in relative import paths disappear (filepath.Join cleans).
    assert image_repository("ghcr.io/acme/", "./cmd/app", "preserve") == "ghcr.io/acme/cmd/app"
    assert image_repository("ghcr.io/acme", "./cmd/app") == "ghcr.io/acme/app-" + md5_hex("./cmd/app")
    assert image_repository("127.0.0.1:5000", "example.com/x/cmd/srv", "base") == "127.0.0.1:5000/srv"
    assert image_repository("ko.local", "example.com/x/cmd/srv", "base") == "ko.local/srv"


@pytest.mark.parametrize(
    "value", ["ghcr.io", "ghcr.io/acme", "127.0.0.1:5000", "localhost:5000/a/b", "acme", "docker.io/user"]
)
def test_valid_ko_docker_repo(value):
    assert validate_ko_docker_repo(value + "/") == value


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("GHCR.io/acme", "upper-case"),
        ("ghcr.io/Acme", "upper-case"),
        ("https://ghcr.io/acme", "URL scheme"),
        ("ghcr.io/acme:v1", "contains a tag"),
        ("ghcr.io/acme@sha256:" + "a" * 64, "contains a digest"),
        ("ghcr.io/a b", "not valid"),
        ("ghcr.io/acme//x", "component ''"),
    ],
)
def test_invalid_ko_docker_repo(value, fragment):
    with pytest.raises(ValueError) as info:
        validate_ko_docker_repo(value)
    message = str(info.value)
    assert message.startswith(f"KO_DOCKER_REPO={value!r} is not valid: ")
    assert fragment in message
    assert "\n" not in message
    # repository_for gives the same problem without repeating the value (callers name it).
    with pytest.raises(ValueError) as info2:
        repository_for(value, IMPORT_PATH)
    assert fragment in str(info2.value) and "KO_DOCKER_REPO=" not in str(info2.value)


def test_bare_needs_a_repository_path():
    with pytest.raises(ValueError, match="names only a registry"):
        image_repository("ghcr.io", IMPORT_PATH, "bare")


def test_invalid_import_path_names_are_reported():
    with pytest.raises(ValueError, match="not valid"):
        image_repository("ghcr.io/acme", "example.com/x/cmd/bad~name", "preserve")
    with pytest.raises(ValueError, match="unknown naming mode"):
        image_repository("ghcr.io/acme", IMPORT_PATH, "weird")


def test_validate_repository_and_tags():
    assert validate_repository("ghcr.io/acme/app/") == "ghcr.io/acme/app"
    with pytest.raises(ValueError, match="cannot carry a tag"):
        validate_repository("ghcr.io/acme/app:v1")
    with pytest.raises(ValueError, match="upper-case"):
        validate_repository("ghcr.io/Acme/app")
    assert is_valid_tag("v1.2.3_rc-1") and is_valid_tag("A" * 128)
    for bad in ("", ".hidden", "-x", "a" * 129, "a/b", "a:b", None, "v1\n", "v1\n\n"):
        assert not is_valid_tag(bad)
