"""`linux_capabilities` against ko v0.19.1 itself: for every list of terms, our parser and the Go
layer writer together give the `SCHILY.xattr.security.capability` bytes ko's
`caps.NewFileCaps(...).ToXattrBytes()` gives (or no record where ko writes none), and refuse
exactly the terms ko refuses."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import pytest
from tests.peers.go_reference import ko_caps

from pants_backend_ko.codec import decode, encode
from pants_backend_ko.oci.capabilities import CapabilityError, FileCapabilities, file_capabilities
from pants_backend_ko.oci.layerwriter import LayersRequest, LayersWritten, app_layer
from pants_backend_ko.oci.layerwriter_test import golayer, run  # noqa: F401 (the fixture)

XATTR = "SCHILY.xattr.security.capability"

CASES: list[list[str]] = [
    ["net_bind_service"],
    ["CAP_NET_BIND_SERVICE", "chown"],
    ["Cap_Sys_Admin"],
    ["all"],
    ["ALL"],
    ["0"],
    ["40"],
    ["63"],
    ["64"],
    ["007"],
    ["+5"],
    ["-1"],
    [""],
    [],
    ["bogus"],
    ["cap_bogus"],
    ["cap_net_bind_service+ep"],
    ["cap_chown,cap_kill=pie"],
    ["=p"],
    ["="],
    ["=ep", "cap_sys_admin-p"],
    ["all=ep", "cap_setuid-pe"],
    ["cap_chown+e"],
    ["cap_chown-p"],
    ["cap_chown+ep", "cap_chown-e"],
    ["cap_chown+p-e"],
    ["cap_chown+x"],
    ["+p"],
    ["cap_chown,bogus+p"],
    ["cap_setuid+i"],
    ["cap_bpf,cap_perfmon+eip"],
    ["checkpoint_restore", "cap_setfcap+ie"],
    ["cap_chown=", "kill"],
    ["cap_chown+"],
    ["cap_chown+p", "cap_kill=i", "cap_chown-p"],
]


def random_cases(count: int) -> list[list[str]]:
    """Terms made of names (known, unknown, numbers, `all`, empty), `,` and actions, as a fuzzer
    would: the grammar's corners, checked against ko rather than against our reading of it."""
    rng = random.Random(12)
    names = ["chown", "CAP_KILL", "setuid", "bpf", "all", "3", "41", "63", "", "nope", "Sys_Admin"]
    actions = "+-=pie"
    cases = []
    for _ in range(count):
        terms = []
        for _ in range(rng.randint(1, 3)):
            term = ",".join(rng.choice(names) for _ in range(rng.randint(1, 2)))
            if rng.random() < 0.8:
                term += rng.choice("+-=") + "".join(rng.choice(actions) for _ in range(rng.randint(0, 4)))
            terms.append(term)
        cases.append(terms)
    return cases


def xattr_written(golayer: Path, tmp_path: Path, capabilities: FileCapabilities | None) -> bytes | None:  # noqa: F811
    """The record the layer writer puts on the binary's header (bytes), or None."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "app").write_bytes(b"\x7fELF")
    request = LayersRequest("blobs/sha256", (app_layer([("app", "app")], capabilities),))
    result = run(golayer, tmp_path, "layers", encode(request))
    assert result.returncode == 0, result.stderr
    (written,) = decode(LayersWritten, result.stdout, "answer").layers
    blob = (tmp_path / "blobs/sha256" / written.digest[7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        value = tar.getmember("/ko-app/app").pax_headers.get(XATTR)
    return None if value is None else value.encode("utf-8", "surrogateescape")


def test_capabilities_are_kos(golayer: Path, tmp_path: Path) -> None:  # noqa: F811
    cases = CASES + random_cases(300)
    expected = ko_caps(cases)
    ours: list[FileCapabilities | None | CapabilityError] = []
    for terms in cases:
        try:
            ours.append(file_capabilities(terms))
        except CapabilityError as e:
            ours.append(e)
    # Refused exactly where ko refuses.
    assert [isinstance(o, Exception) for o in ours] == [isinstance(e, Exception) for e in expected]
    assert any(isinstance(e, Exception) for e in expected) and any(isinstance(e, bytes) for e in expected)
    # The bytes: one layer per distinct result keeps the Go runs few.
    distinct = {o for o in ours if not isinstance(o, Exception)}
    written = {caps: xattr_written(golayer, tmp_path / str(i), caps) for i, caps in enumerate(distinct)}
    for terms, o, theirs in zip(cases, ours, expected):
        if not isinstance(o, Exception):
            assert written[o] == theirs, terms


def test_known_encodings() -> None:
    # CAP_NET_BIND_SERVICE is bit 10; `+ep` sets the effective flag (the magic's low bit).
    assert file_capabilities(["net_bind_service"]) == FileCapabilities(1 << 10, 0, False)
    assert file_capabilities(["cap_net_bind_service+ep"]) == FileCapabilities(1 << 10, 0, True)
    assert file_capabilities(["cap_bpf+i"]) == FileCapabilities(0, 1 << 39, False)
    assert file_capabilities(["cap_chown+e"]) is None  # nothing permitted nor inheritable: no xattr
    assert file_capabilities([]) is None


@pytest.mark.parametrize(
    "terms, message",
    [
        (["net_bind_servic"], "unknown capability 'net_bind_servic'"),
        (["cap_chown,nope+ep"], "unknown capability 'nope' in 'cap_chown,nope+ep'"),
        (["cap_chown+x"], "unknown flag 'x' in 'cap_chown+x'"),
        (["64"], "unknown capability '64'"),
    ],
)
def test_refused_terms_say_which(terms: list[str], message: str) -> None:
    with pytest.raises(CapabilityError) as e:
        file_capabilities(terms)
    assert str(e.value).startswith(message)
