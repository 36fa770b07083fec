from __future__ import annotations

import argparse
import gzip
import json

import pytest

from pants_backend_ko.codec import MessageError, decode, encode
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.remote.errors import RegistryError
from pants_backend_ko.oci.remote.limits import (
    RECEIVE,
    SEND,
    WAIT,
    Transfer,
    TransferLimitError,
    TransportLimits,
    _Decoder,
    is_timeout,
)


def test_limits_cross_process_boundaries_both_ways():
    limits = TransportLimits(timeout=2.5, min_speed=0)
    # As a typed message (inside PushPlan, StatusQuery, BaseFetch).
    assert decode(TransportLimits, encode(limits), "limits.json") == limits
    assert decode(TransportLimits, b'{"timeout": 3, "min_speed": 0}', "limits.json") == TransportLimits(3.0, 0)
    assert decode(TransportLimits, b"{}", "limits.json") == TransportLimits()
    # As the flags of the verbs people run by hand.
    parser = argparse.ArgumentParser()
    TransportLimits.add_arguments(parser)
    args = parser.parse_args(["--registry-timeout", "2.5", "--registry-min-speed", "0"])
    assert TransportLimits.from_args(args) == limits
    assert TransportLimits.from_args(parser.parse_args([])) == TransportLimits()


@pytest.mark.parametrize("timeout, min_speed", [(0, 1), (-1, 1), (1, -1)])
def test_nonsense_limits_are_refused(timeout, min_speed):
    with pytest.raises(ValueError) as excinfo:
        TransportLimits(timeout=timeout, min_speed=min_speed)
    assert isinstance(excinfo.value, KoError)
    # Read from a message, the refusal names the file and the field.
    data = json.dumps({"timeout": timeout, "min_speed": min_speed}).encode()
    with pytest.raises(MessageError, match=r"^plan.json: transport: the (registry timeout|minimum registry)"):
        decode(TransportLimits, data, "plan.json: transport")
    with pytest.raises(MessageError, match=r"^plan.json: timeout must be a number, got 'slow'$"):
        decode(TransportLimits, b'{"timeout": "slow"}', "plan.json")


def _ticked(transfer: Transfer, seconds: float, *, step: float = 0.25, per_step: int = 0) -> None:
    transfer.active = True
    for _ in range(int(seconds / step)):
        transfer.progress(per_step)
        transfer.tick(step)


def test_a_silent_peer_gets_the_no_answer_verdict_after_the_timeout():
    transfer = Transfer(TransportLimits(timeout=3, min_speed=0), "registry r: GET /v2/")
    transfer.enter(WAIT)
    _ticked(transfer, 2.75)
    assert transfer.verdict is None
    _ticked(transfer, 0.25)
    with pytest.raises(TransferLimitError) as info:
        transfer.check()
    assert str(info.value) == (
        "registry r: GET /v2/: connected, but no answer within 3 s "
        "(the limit is [ko].registry_timeout; raise it if the peer is only slow)"
    )


def test_a_trickle_is_too_slow_only_after_a_whole_window_below_the_minimum():
    transfer = Transfer(TransportLimits(timeout=4, min_speed=1000), "w")
    transfer.enter(RECEIVE)
    _ticked(transfer, 3.75, per_step=100)  # 400 bytes/s
    assert transfer.verdict is None
    _ticked(transfer, 0.25, per_step=100)
    assert transfer.verdict == (
        "the answer arrives too slowly: 1.6 KiB in 4 s, below the minimum of 1000 bytes/s "
        "(the limit is [ko].registry_min_speed; 0 turns it off)"
    )


def test_time_outside_the_peer_does_not_count():
    transfer = Transfer(TransportLimits(timeout=2, min_speed=1000), "w")
    transfer.enter(SEND)
    transfer.active = False  # the body's source is being read: not the peer's time
    for _ in range(100):
        transfer.tick(0.25)
    assert transfer.verdict is None and transfer.clock == 0
    _ticked(transfer, 1.0, per_step=5000)
    assert transfer.verdict is None


def test_fast_enough_transfers_go_on_window_after_window():
    transfer = Transfer(TransportLimits(timeout=1, min_speed=1000), "w")
    transfer.enter(RECEIVE)
    _ticked(transfer, 10, per_step=300)  # 1200 bytes/s
    assert transfer.verdict is None


def test_decoding_is_bounded():
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))
    decoder = _Decoder("gzip", "w")
    out = decoder.feed(bomb, 1000)
    assert len(out) == 1000  # the rest waits, compressed, until asked for
    assert len(decoder.more(10)) == 10
    with pytest.raises(RegistryError, match="encoded as 'br'"):
        _Decoder("br", "w")


def test_refused_connections_are_not_timeouts():
    import requests
    import urllib3

    # No connection object is needed to classify the error.
    refused = requests.ConnectionError(urllib3.exceptions.NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert not is_timeout(refused)
    assert is_timeout(requests.ConnectionError(urllib3.exceptions.ProtocolError("aborted", TimeoutError())))
    assert is_timeout(requests.ReadTimeout())
