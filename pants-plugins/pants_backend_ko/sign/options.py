"""How a publish signs: the typed message (`codec.Message`) that crosses into the push and check
processes (`PushPlan.signing`, `StatusQuery.signing` in `tool/messages.py`).

It never holds a secret: the key crosses as its reference (a file path or cosign's ``env://NAME``)
and its password as ``$COSIGN_PASSWORD`` in the push process's environment; ``public_key`` (the
PEM of the key's public half, which the Pants rules derive when they check the key before
anything is pushed) is what the read-only registry check verifies existing signatures with.
No Pants imports, and no cryptography: the tool's messages import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pants_backend_ko.codec import Message

__all__ = ["SigningOptions"]


@dataclass(frozen=True)
class SigningOptions(Message):
    """How to sign (the ``[ko]`` signing options), the same for every image of a publish."""

    key: str  # a cosign.key path or env://NAME; never the key itself
    public_key: str = ""  # the key's public half (PEM), for the read-only check; "" when not derived
    sign_sboms: bool = True
    provenance: bool = True
    annotations: tuple[tuple[str, str], ...] = ()  # cosign sign -a key=value, in every signature payload

    @property
    def annotation_map(self) -> Mapping[str, str] | None:
        return dict(self.annotations) or None
