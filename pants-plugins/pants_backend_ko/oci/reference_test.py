"""Reference parsing vectors, mostly from go-containerregistry's pkg/name tests."""

from __future__ import annotations

import pytest

from pants_backend_ko.oci.reference import (
    InvalidReferenceError,
    Reference,
    is_digest,
    is_valid_tag,
    parse_reference,
    parse_repository,
    validate_registry,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("library/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("docker.io/ubuntu:22.04", "index.docker.io", "library/ubuntu", "22.04", None),
        ("index.docker.io/library/ubuntu", "index.docker.io", "library/ubuntu", "latest", None),
        ("registry-1.docker.io/acme/app:v1", "index.docker.io", "acme/app", "v1", None),
        ("namespace/pathcomponent/image", "index.docker.io", "namespace/pathcomponent/image", "latest", None),
        ("gcr.io/g-convoy/hello-world:latest", "gcr.io", "g-convoy/hello-world", "latest", None),
        ("gcr.io/google.com/project-id/hello-world", "gcr.io", "google.com/project-id/hello-world", "latest", None),
        (
            "gcr.io/project-id/image:w1th-alpha_num3ric.PLUScaps",
            "gcr.io",
            "project-id/image",
            "w1th-alpha_num3ric.PLUScaps",
            None,
        ),
        ("domain.with.port:9001/image:latest", "domain.with.port:9001", "image", "latest", None),
        ("www.example.test:12345/repo/path", "www.example.test:12345", "repo/path", "latest", None),
        ("localhost/testimage", "localhost", "testimage", "latest", None),
        ("localhost:5000/a/b", "localhost:5000", "a/b", "latest", None),
        ("127.0.0.1:5000/a/b@" + DIGEST, "127.0.0.1:5000", "a/b", None, DIGEST),
        ("gcr.io/x/y:v1@" + DIGEST, "gcr.io", "x/y", "v1", DIGEST),
        ("[::1]:5000/x:t", "[::1]:5000", "x", "t", None),
        ("example.com/a", "example.com", "a", "latest", None),
        ("example.com/a__b/c-d--e.f_g", "example.com", "a__b/c-d--e.f_g", "latest", None),
    ],
)
def test_parse_reference(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.identifier == (digest or tag)
    assert ref.is_digest == (digest is not None)


def test_names_and_scopes():
    ref = parse_reference("ubuntu")
    assert ref.name == "index.docker.io/library/ubuntu:latest"
    assert str(ref) == ref.name
    assert ref.repository_name == "index.docker.io/library/ubuntu"
    assert ref.context.scope("pull") == "repository:library/ubuntu:pull"
    pinned = ref.with_digest(DIGEST)
    assert pinned.name == f"index.docker.io/library/ubuntu:latest@{DIGEST}"
    assert pinned.identifier == DIGEST
    assert Reference("r.io", "a/b", None, DIGEST).name == f"r.io/a/b@{DIGEST}"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "it is empty"),
        ("http://gcr.io/a/b", "URL scheme"),
        ("https://gcr.io/a/b", "URL scheme"),
        ("white space", "whitespace"),
        ("gcr.io/project-id/bad_chars:c@n'tuse", "digest"),
        ("gcr.io/project-id/wrong-length:white space", "whitespace"),
        ("gcr.io/project-id/too-many-chars:" + "t" * 129, "tag"),
        ("gcr.io/x:-leadingdash", "tag '-leadingdash'"),
        ("b@char/image", "digest"),
        ("gcr.io/UPPER/case", "upper-case"),
        ("gcr.io/a//b", "component ''"),
        ("gcr.io/-a/b", "component '-a'"),
        ("gcr.io/a/b@sha256:abc", "64 lower-case hex"),
        ("gcr.io/a/b@sha512:" + "a" * 128, "sha256"),
        ("a@" + DIGEST + "@" + DIGEST, "more than one '@'"),
        ("gcr.io:99999/a", "port 99999"),
        ("gcr?com/a:b", "not valid"),
    ],
)
def test_invalid_references_give_one_clear_line(text, fragment):
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"invalid image reference {text!r}: ")
    assert fragment in message
    assert ";" in message  # problem; what to do


def test_parse_repository():
    assert parse_repository("ghcr.io/acme/app").name == "ghcr.io/acme/app"
    assert parse_repository("alpine").name == "index.docker.io/library/alpine"
    assert parse_repository("docker.io/acme/x").registry == "index.docker.io"
    with pytest.raises(ValueError, match="cannot carry a tag"):
        parse_repository("ghcr.io/acme/app:v1")
    with pytest.raises(ValueError, match="cannot carry a digest"):
        parse_repository("ghcr.io/acme/app@" + DIGEST)


def test_validate_registry():
    assert validate_registry("docker.io") == "index.docker.io"
    assert validate_registry("127.0.0.1:5000") == "127.0.0.1:5000"
    assert validate_registry("[::1]:5000") == "[::1]:5000"
    for bad in ("", "http://x", "a b", "x:port", "[zz::1]:5", "ghcr.io\n", "127.0.0.1:5000\n"):
        with pytest.raises(ValueError):
            validate_registry(bad)


def test_a_final_newline_is_never_part_of_a_valid_name():
    # `$` in a pattern matches before a final newline: every check here matches the whole text.
    assert is_digest(DIGEST) and not is_digest(DIGEST + "\n")
    assert not is_valid_tag("v1\n")
    for bad in ("ghcr.io/acme/app\n", "ghcr.io/acme\n/app"):
        with pytest.raises(ValueError):
            parse_repository(bad)
