"""Linux file capabilities of an image's binary: ko's `builds[].linux_capabilities`.

ko (v0.16+, `pkg/caps/caps.go` of github.com/ko-build/ko) turns a list of terms into the
binary's `security.capability` extended attribute, written in the app layer as the PAX record
`SCHILY.xattr.security.capability` (`tarBinary` in `pkg/build/gobuild.go`, Linux images only).
A term is

- a capability as Docker's `--cap-add` takes it (`chown`, `CAP_CHOWN`, `Chown`; `all` is every
  capability ko knows), or a number 0-63 for one ko does not know: added to the permitted set;
- or a `cap_from_text(3)` clause, `cap1,cap2[+-=][pie]...` (`cap_net_bind_service+ep`;
  `=p` alone means all): `+` raises, `-` lowers and `=` first clears the named capabilities in
  the sets `p`ermitted, `i`nheritable, `e`ffective that follow.

This module is `NewFileCaps` term for term (the same order of checks, the same results):
the masks; the bytes (`vfs_cap_data` revision 2: magic | effective flag, then
permitted/inheritable low and high 32 bits, little-endian) are written by the Go layer writer
(`_golayer/main.go`, ko's `XattrBytes`), so they are Go's. No capability set at all (nothing
permitted nor inheritable) means no xattr, as in ko. No Pants imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pants_backend_ko.codec import Message

__all__ = ["CAPABILITY_INDEX", "CapabilityError", "FileCapabilities", "file_capabilities"]

# ko's `nameToIndex` (the kernel's CAP_* numbers, include/uapi/linux/capability.h).
CAPABILITY_INDEX = {
    name: index
    for index, name in enumerate(
        (
            "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
            "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
            "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
            "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
            "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
        ).split()
    )
}
_ALL_KNOWN = sum(1 << index for index in CAPABILITY_INDEX.values())
_ALL_BITS = (1 << 64) - 1  # Go's ^Mask(0)
_DECIMAL = re.compile(r"[0-9]+")  # what strconv.ParseUint(s, 10, 6) reads (no sign, no `_`)


class CapabilityError(ValueError):
    """A term ko would refuse; the message is ko's reason (the caller says where)."""


@dataclass(frozen=True)
class FileCapabilities(Message):
    """ko's `FileCaps`: what the layer writer encodes as the `security.capability` xattr."""

    permitted: int  # bit n = capability n (64 bits, as ko's Mask)
    inheritable: int
    effective: bool  # vfs_cap_data's VFS_CAP_FLAGS_EFFECTIVE: the permitted set is raised on execve

    def __post_init__(self) -> None:
        for mask in (self.permitted, self.inheritable):
            if not 0 <= mask <= _ALL_BITS:
                raise CapabilityError(f"capability mask {mask:#x} does not fit 64 bits")


def _parse(text: str) -> int:
    """ko's `caps.Parse`: one capability (or `all`) as a mask."""
    if _DECIMAL.fullmatch(text) and int(text) < 64:
        return 1 << int(text)
    name = text.upper()
    if name == "ALL":
        return _ALL_KNOWN
    name = name[4:] if name.startswith("CAP_") else name
    if name in CAPABILITY_INDEX:
        return 1 << CAPABILITY_INDEX[name]
    raise CapabilityError(f"unknown capability {text!r}")


def file_capabilities(terms: Iterable[str]) -> FileCapabilities | None:
    """ko's `caps.NewFileCaps`: None when the terms leave nothing permitted or inheritable."""
    permitted = inheritable = effective = 0
    for term in terms:
        split = next((i for i, char in enumerate(term) if char in "+-="), -1)
        if split == -1:
            permitted |= _parse(term)
            continue
        names, actions = term[:split], term[split:]
        if names == "" and actions[0] == "=":
            names = "all"
        mask = 0
        for name in names.split(","):
            try:
                mask |= _parse(name)
            except CapabilityError as e:
                raise CapabilityError(f"{e} in {term!r}") from None
        keep = 0
        for action in actions:
            if action == "+":
                keep = _ALL_BITS
            elif action == "-":
                keep = _ALL_BITS & ~mask
            elif action == "=":
                keep = _ALL_BITS
                permitted &= ~mask
                inheritable &= ~mask
                effective &= ~mask
            elif action == "p":
                permitted = (permitted | mask) & keep
            elif action == "i":
                inheritable = (inheritable | mask) & keep
            elif action == "e":
                effective = (effective | mask) & keep
            else:
                raise CapabilityError(f"unknown flag {action!r} in {term!r} (p, i, e after +, - or =)")
    if permitted or inheritable:
        return FileCapabilities(permitted & _ALL_BITS, inheritable & _ALL_BITS, effective != 0)
    return None
