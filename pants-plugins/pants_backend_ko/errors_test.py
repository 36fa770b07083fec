from __future__ import annotations

import pytest

from pants_backend_ko.errors import KoError, format_error, located, one_line
from pants_backend_ko.golang.gobuildinfo import GoBuildInfoError
from pants_backend_ko.k8s.scan import ManifestError, parse_stream
from pants_backend_ko.koconfig.templates import TemplateError
from pants_backend_ko.oci.daemon.archive import ArchiveError
from pants_backend_ko.oci.daemon.client import DaemonError, DaemonUnavailableError
from pants_backend_ko.oci.daemon.host import DaemonAddressError
from pants_backend_ko.oci.daemon.jsonmessage import MessageStreamError
from pants_backend_ko.oci.layout import LayoutError
from pants_backend_ko.oci.platform import InvalidPlatformError, Platform
from pants_backend_ko.oci.reference import InvalidReferenceError, parse_reference
from pants_backend_ko.oci.remote.credentials import CredentialError
from pants_backend_ko.oci.remote.errors import RegistryError


def test_the_parts_are_joined_in_one_place() -> None:
    assert format_error("no go.mod") == "no go.mod"
    assert format_error("no go.mod", where="app:img") == "app:img: no go.mod"
    assert (
        format_error("no go.mod", where="app:img", fix="run `go mod init`") == "app:img: no go.mod; run `go mod init`"
    )
    error = KoError("no go.mod", where="app:img", fix="run `go mod init`")
    assert str(error) == "app:img: no go.mod; run `go mod init`"
    assert (error.where, error.what, error.fix) == ("app:img", "no go.mod", "run `go mod init`")


def test_one_line() -> None:
    assert one_line("a\n  b\tc ") == "a b c"
    assert one_line("x" * 10, limit=8) == "xxxxx..."


@pytest.mark.parametrize(
    "family",
    [
        RegistryError,
        CredentialError,
        InvalidReferenceError,
        InvalidPlatformError,
        LayoutError,
        GoBuildInfoError,
        ManifestError,
        TemplateError,
        DaemonError,
        DaemonUnavailableError,
        DaemonAddressError,
        ArchiveError,
        MessageStreamError,
    ],
)
def test_every_family_is_a_ko_error(family: type) -> None:
    assert issubclass(family, KoError)


def test_core_validation_errors_stay_value_errors() -> None:
    # Callers of the core catch ValueError for bad input; that keeps working.
    with pytest.raises(ValueError) as reference:
        parse_reference("Bad/Name")
    with pytest.raises(InvalidPlatformError) as platform:
        Platform.parse("linux/sparc")
    assert isinstance(platform.value, ValueError)
    for excinfo in (reference, platform):
        assert isinstance(excinfo.value, KoError)
    assert platform.value.problem.startswith("unknown architecture 'sparc'; use one of ")
    assert str(platform.value) == f"invalid platform 'linux/sparc': {platform.value.problem}"


def test_located_keeps_a_more_precise_location() -> None:
    with pytest.raises(ManifestError) as excinfo:
        parse_stream("a: [b\n", "deploy/app.yaml")
    manifest_error = excinfo.value
    assert manifest_error.where == "deploy/app.yaml:2:1"
    assert located(manifest_error, "deploy:apply") is manifest_error

    unlocated = located(RegistryError("registry r: GET /v2/: 500"), "app:img")
    assert str(unlocated) == "app:img: registry r: GET /v2/: 500"
    assert str(located(KoError("bad", fix="fix it"), "app:img")) == "app:img: bad; fix it"
    assert str(located(ValueError("plain"), "app:img")) == "app:img: plain"
    assert str(located(OSError(), "app:img")) == "app:img: OSError"
