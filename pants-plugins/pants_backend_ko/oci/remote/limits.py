"""What a registry (or its token server, or the storage it redirects to) can make us spend.

Every answer of a peer is read through :func:`read_body` (into memory, at most ``limit``
bytes) or :func:`iter_body` (streamed, for blobs), never with ``requests``' ``.text``,
``.content`` or ``.json()``: a peer that sends an endless body costs at most the limit
(64 KiB for an error body, 1 MiB for a token answer, 8 MiB for a manifest, 16 MiB for a
config), and the error says the answer was too large instead of the process swapping.

Time is bounded by :class:`TransportLimits`, enforced for every exchange by one watchdog
thread, in the manner of curl's ``--speed-time``/``--speed-limit`` and cargo's
``http.timeout``/``http.low-speed-limit``:

* ``timeout``: the longest a peer may leave an exchange without progress — connecting, not
  answering, not accepting a byte of an upload, not sending a byte of an answer;
* ``min_speed``: the lowest average speed, in bytes per second over ``timeout`` seconds, of
  an upload or download (0 turns it off): a layer trickling at a byte every five seconds
  fails after ``timeout`` seconds instead of taking days.

Only time spent waiting on the peer counts: while an upload's body is being read from its
source (a file, or another registry's download) or a download's reader is busy elsewhere,
the clock of that exchange stands still, so a slow peer is never blamed on another one. When
a limit is crossed the watchdog shuts the exchange's socket down, and the blocked call fails
with a one-line :class:`TransferLimitError` that says what happened: connected but no answer,
an upload or answer that stopped, or one that is too slow — never "cannot connect".

The socket is reached through urllib3's documented ``ConnectionCls`` extension point
(:class:`WatchedAdapter`); the rest of the requests stack is used as is. No Pants imports.
"""

from __future__ import annotations

import argparse
import os
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pants_backend_ko.codec import Message
from pants_backend_ko.errors import KoError
from pants_backend_ko.oci.remote.errors import RegistryError

MAX_ERROR_BODY = 64 * 1024  # enough for any distribution error document; the rest is never read
MAX_TOKEN_ANSWER = 1024 * 1024  # token answers are a few KiB (JWTs with their claims)
CHUNK = 1024 * 1024  # the most one read returns; a read returns as soon as any data arrived
_SEND_BLOCK = 64 * 1024  # upload bodies are handed to the socket in pieces this big
_TICK = 0.25  # seconds between two looks of the watchdog


class InvalidLimitsError(KoError, ValueError):
    """A registry timeout or minimum speed that cannot bound anything."""


@dataclass(frozen=True)
class TransportLimits(Message):
    """The bounds a user sets on registry exchanges (``[ko].registry_timeout``/``registry_min_speed``).

    A typed message (`codec.Message`): the Pants rules put it in every request that makes the
    tool talk to a registry (`tool/messages.py`: `PushPlan`, `StatusQuery`, `BaseFetch`).
    """

    timeout: float = 60.0  # seconds an exchange may go without progress
    min_speed: int = 10 * 1024  # bytes/s averaged over `timeout` seconds; 0 = no minimum

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", float(self.timeout))  # 3 and 3.0: the same limit, the same JSON
        if not self.timeout > 0:
            raise InvalidLimitsError(f"the registry timeout must be a positive number of seconds, got {self.timeout}")
        if self.min_speed < 0:
            raise InvalidLimitsError(
                f"the minimum registry transfer speed must be 0 or more bytes/s, got {self.min_speed}"
            )

    # The flags of the tool's verbs that people run by hand (`push`, `inspect`).

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        default = TransportLimits()
        parser.add_argument(
            "--registry-timeout",
            type=float,
            default=default.timeout,
            metavar="SECONDS",
            help="fail an exchange with a registry that makes no progress for this long",
        )
        parser.add_argument(
            "--registry-min-speed",
            type=int,
            default=default.min_speed,
            metavar="BYTES_PER_SECOND",
            help="fail a transfer slower than this on average over the timeout (0: no minimum)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TransportLimits:
        return cls(timeout=args.registry_timeout, min_speed=args.registry_min_speed)

    @property
    def socket_timeouts(self) -> tuple[float, float]:
        """(connect, read) for requests. Reads get a few seconds more than the watchdog so that
        its message, which knows the phase, is the one the user sees."""
        return (self.timeout, self.timeout + 5.0)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _size(n: float) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{int(n)} byte" + ("" if int(n) == 1 else "s")


class TransferLimitError(RegistryError):
    """An exchange crossed a limit: no answer, stalled, too slow, or an answer too large."""


# Phases of an exchange, for the message.
CONNECT, SEND, WAIT, RECEIVE = "connect", "send", "wait", "receive"


class Transfer:
    """One exchange with a peer, as the watchdog sees it.

    ``where`` starts every message (``registry <host>: GET /v2/...``). The owner marks when
    the exchange waits on the peer (:meth:`waiting`) and reports bytes moved
    (:meth:`progress`); the watchdog advances the clock only while the exchange waits.
    """

    def __init__(self, limits: TransportLimits, where: str) -> None:
        self.limits = limits
        self.where = where
        self.phase = CONNECT
        self.active = False
        self.connection: Any = None  # the urllib3 connection, once the request goes out
        self.clock = 0.0  # seconds spent waiting on the peer
        self.moved = 0  # bytes sent or received
        self._last_progress = 0.0
        self._window_clock = 0.0
        self._window_moved = 0
        self.verdict: str | None = None
        self.finished = False
        self.settled: bytes | None = None  # the body, when read by `settle`

    # -- the owner's side

    def waiting(self, active: bool) -> None:
        self.active = active and not self.finished
        if active:
            _WATCHDOG.ensure_running()

    def enter(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self._restart_window()

    def progress(self, nbytes: int) -> None:
        if nbytes > 0:
            self.moved += nbytes
            self._last_progress = self.clock

    def finish(self) -> None:
        self.finished = True
        self.active = False
        self.connection = None

    def error(self) -> TransferLimitError:
        assert self.verdict is not None
        return TransferLimitError(f"{self.where}: {self.verdict}")

    def check(self) -> None:
        """Raise the verdict, if the watchdog gave one."""
        if self.verdict is not None:
            raise self.error()

    def _restart_window(self) -> None:
        self._last_progress = self.clock
        self._window_clock = self.clock
        self._window_moved = self.moved

    # -- the watchdog's side

    def tick(self, seconds: float) -> None:
        if not self.active or self.verdict is not None:
            return
        self.clock += seconds
        if self.phase == CONNECT:
            return  # bounded by the socket's connect timeout, which says "cannot connect"
        limits = self.limits
        idle = self.clock - self._last_progress
        if idle >= limits.timeout:
            self._stop(self._idle_verdict())
            return
        elapsed = self.clock - self._window_clock
        if limits.min_speed and self.phase in (SEND, RECEIVE) and elapsed >= limits.timeout:
            moved = self.moved - self._window_moved
            if moved < limits.min_speed * elapsed:
                self._stop(self._slow_verdict(moved, elapsed))
                return
            self._window_clock, self._window_moved = self.clock, self.moved

    def timed_out(self) -> TransferLimitError:
        """The error for a socket timeout of this exchange (the watchdog's, had it been first)."""
        if self.verdict is None:
            self.verdict = self._idle_verdict()
        return self.error()

    def _idle_verdict(self) -> str:
        seconds = _number(self.limits.timeout)
        what = {
            CONNECT: f"cannot connect within {seconds} s",
            SEND: f"connected, but the upload made no progress for {seconds} s",
            WAIT: f"connected, but no answer within {seconds} s",
            RECEIVE: f"the answer stopped: no data for {seconds} s",
        }[self.phase]
        return f"{what} (the limit is [ko].registry_timeout; raise it if the peer is only slow)"

    def _slow_verdict(self, moved: int, elapsed: float) -> str:
        direction = "the upload is accepted" if self.phase == SEND else "the answer arrives"
        return (
            f"{direction} too slowly: {_size(moved)} in {_number(round(elapsed))} s, below the minimum of "
            f"{_size(self.limits.min_speed)}/s (the limit is [ko].registry_min_speed; 0 turns it off)"
        )

    def _stop(self, verdict: str) -> None:
        self.verdict = verdict
        connection = self.connection
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # the blocked send or recv returns at once
            except OSError:
                pass


class _Watchdog:
    """One daemon thread that advances the clocks of the exchanges in progress."""

    def __init__(self) -> None:
        self._transfers: weakref.WeakSet[Transfer] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, transfer: Transfer) -> None:
        with self._lock:
            self._transfers.add(transfer)

    def ensure_running(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="registry-watchdog", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(_TICK)
            now = time.monotonic()
            # A watchdog that could not run for a while (the machine slept, the process was
            # stopped) counts one tick, never the gap: only time seen passing is charged.
            seconds, last = min(now - last, 4 * _TICK), now
            with self._lock:
                transfers = [t for t in self._transfers if not t.finished]
            for transfer in transfers:
                transfer.tick(seconds)


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()  # the Transfer whose request this thread is sending


def new_transfer(limits: TransportLimits, where: str) -> Transfer:
    transfer = Transfer(limits, where)
    _WATCHDOG.add(transfer)
    return transfer


class sending:
    """``with sending(transfer): session.request(...)`` — the request goes out under the watch."""

    def __init__(self, transfer: Transfer) -> None:
        self.transfer = transfer

    def __enter__(self) -> Transfer:
        _CURRENT.transfer = self.transfer
        self.transfer.waiting(True)
        return self.transfer

    def __exit__(self, exc_type: object, *exc: object) -> None:
        _CURRENT.transfer = None
        self.transfer.waiting(False)
        if exc_type is None:
            self.transfer.enter(RECEIVE)  # the answer's status line and headers were progress


# ------------------------------------------------------------- urllib3 hook


class _WatchedConnectionMixin:
    """Tells the thread's current Transfer which connection its request uses, and when the
    request has been sent (from then on the exchange waits for the answer)."""

    sock: Any
    timeout: float | None  # as urllib3's HTTPConnection declares it

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        transfer: Transfer | None = getattr(_CURRENT, "transfer", None)
        if transfer is not None:
            if self.sock is None:
                self.connect()  # type: ignore[attr-defined]  # within the connect timeout
            transfer.connection = self
            transfer.enter(SEND)
            # Sending is bounded by the watchdog; the socket's own timeout (urllib3 would use the
            # connect timeout) only backs it up, so the message names the phase.
            self.timeout = transfer.limits.socket_timeouts[1]
        super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        if transfer is not None:
            transfer.enter(WAIT)


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections the watchdog can reach."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


# ------------------------------------------------------------- upload bodies


class ProgressBody:
    """An upload body handed to requests: reports each piece sent as progress, and stops the
    clock while the next piece is read from the source (a file or another registry)."""

    def __init__(self, source: Any, length: int, transfer: Transfer) -> None:
        self._source = source
        self._length = length
        self._transfer = transfer
        self._pending = 0

    def __len__(self) -> int:
        return self._length

    def read(self, amount: int = -1) -> bytes:
        transfer = self._transfer
        transfer.progress(self._pending)  # the previous piece has been sent
        transfer.check()
        transfer.waiting(False)
        # Pieces small enough that a transfer at the minimum speed reports progress several times
        # per window (the watchdog sees a piece only once the socket took all of it).
        limits = transfer.limits
        piece = max(1024, min(_SEND_BLOCK, int(limits.min_speed * limits.timeout / 8) or _SEND_BLOCK))
        try:
            data = self._source.read(min(amount, piece) if amount and amount > 0 else piece)
        finally:
            transfer.waiting(True)
        self._pending = len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.read(_SEND_BLOCK)
            if not data:
                return
            yield data

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if callable(close):
            close()


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._offset = 0

    def read(self, amount: int) -> bytes:
        piece = self._view[self._offset : self._offset + amount].tobytes()
        self._offset += len(piece)
        return piece


def progress_body(data: Any, transfer: Transfer) -> Any:
    """Wrap an upload body (bytes, or a readable with a length) so the watchdog sees it move."""
    if data is None or (isinstance(data, (bytes, bytearray)) and not data):
        return data
    if isinstance(data, (bytes, bytearray)):
        return ProgressBody(_BytesSource(bytes(data)), len(data), transfer)
    length = _length_of(data)
    if length is None or not hasattr(data, "read"):
        return data
    return ProgressBody(data, length, transfer)


def _length_of(data: Any) -> int | None:
    if hasattr(data, "__len__"):
        return len(data)
    if hasattr(data, "getbuffer"):  # io.BytesIO
        return len(data.getbuffer()) - data.tell()
    fileno = getattr(data, "fileno", None)
    if callable(fileno):
        try:
            return os.fstat(fileno()).st_size - (data.tell() if hasattr(data, "tell") else 0)
        except (OSError, ValueError):
            return None
    return None


# ---------------------------------------------------------------- answers


def attach_transfer(resp: requests.Response, transfer: Transfer) -> requests.Response:
    resp.ko_transfer = transfer  # type: ignore[attr-defined]
    return resp


def transfer_of(resp: requests.Response) -> Transfer | None:
    return getattr(resp, "ko_transfer", None)


def _raw_chunks(resp: requests.Response, where: str) -> Generator[bytes, None, None]:
    """The body as it arrives, each read returning as soon as any data is there."""
    transfer = transfer_of(resp)
    raw = resp.raw
    read1: Callable[..., bytes] | None = getattr(raw, "read1", None)
    try:
        while True:
            if transfer is not None:
                transfer.waiting(True)
            try:
                chunk = read1(CHUNK, decode_content=False) if read1 is not None else raw.read(64 * 1024, False)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError, ValueError) as e:
                if transfer is not None:
                    transfer.check()
                    if is_timeout(e):
                        raise transfer.timed_out() from None
                raise RegistryError(
                    f"{where}: the connection broke while reading the answer ({type(e).__name__}); try again"
                ) from None
            finally:
                if transfer is not None:
                    transfer.waiting(False)
            if transfer is not None:
                transfer.check()  # a socket shut down by the watchdog reads as the end
                transfer.progress(len(chunk))
            if not chunk:
                return
            yield chunk
    finally:
        if transfer is not None:
            transfer.finish()


class _Decoder:
    """Content-Encoding undone with a bound on the output (a small gzip can inflate to GiBs)."""

    def __init__(self, encoding: str, where: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._inflate = None
        elif encoding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._inflate = zlib.decompressobj()
        else:
            raise RegistryError(
                f"{where}: the answer is encoded as {encoding!r}, which this client did not ask for and cannot read"
            )
        self._where = where
        self._pending = b""

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode ``data``, producing at most ``room`` bytes now (the rest waits for :meth:`more`)."""
        if self._inflate is None:
            return data
        try:
            out = self._inflate.decompress(self._pending + data, max(room, 1))
        except zlib.error:
            raise RegistryError(f"{self._where}: the answer's compressed body is corrupt") from None
        self._pending = self._inflate.unconsumed_tail
        return out

    def more(self, room: int) -> bytes:
        return self.feed(b"", room) if self._pending else b""


def read_body(
    resp: requests.Response, limit: int, *, where: str, what: str = "answer", truncate: bool = False
) -> bytes:
    """The answer's body, at most ``limit`` bytes (after undoing gzip/deflate).

    Larger: a one-line :class:`TransferLimitError` before more than ``limit + 1`` bytes were
    kept, or, with ``truncate``, the first ``limit`` bytes (for quoting an error body). The
    connection is closed when the body was not read to its end.
    """
    transfer = transfer_of(resp)
    if transfer is not None and transfer.settled is not None:
        if len(transfer.settled) > limit and not truncate:
            raise _too_large(where, what, limit, "")
        return transfer.settled[:limit]
    declared = resp.headers.get("Content-Length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise _too_large(where, what, limit, f" (it announced {int(declared)} bytes)")
    decoder = _Decoder(resp.headers.get("Content-Encoding", ""), where)
    parts: list[bytes] = []
    kept = 0
    complete = False
    chunks = _raw_chunks(resp, where)
    try:
        for chunk in chunks:
            data = decoder.feed(chunk, limit + 1 - kept)
            while data:
                parts.append(data)
                kept += len(data)
                if kept > limit:
                    break
                data = decoder.more(limit + 1 - kept)
            if kept > limit:
                break
        else:
            complete = True
    finally:
        chunks.close()
        if not complete:
            resp.close()  # never drain what we will not use: the connection is dropped instead
    body = b"".join(parts)
    if kept > limit:
        if truncate:
            return body[:limit]
        raise _too_large(where, what, limit, "")
    return body


def settle(resp: requests.Response, where: str) -> None:
    """Read a small answer now — the body of an error, a redirect, an upload's receipt — so that
    its connection goes back to the pool for the next request; a body longer than
    :data:`MAX_ERROR_BODY`, or one that breaks, costs its connection instead (never more).
    :func:`read_body` then serves what was read."""
    transfer = transfer_of(resp)
    if transfer is None or transfer.settled is not None:
        return
    try:
        body = read_body(resp, MAX_ERROR_BODY, where=where, truncate=True)
    except RegistryError:
        body = b""  # only ever quoted in an error: a broken or slow one is left out
    transfer.settled = body


def _too_large(where: str, what: str, limit: int, detail: str) -> TransferLimitError:
    return TransferLimitError(
        f"{where}: the {what} is larger than the {_size(limit)} this client reads{detail}; "
        "the registry (or a proxy in front of it) is misbehaving"
    )


def iter_body(resp: requests.Response, *, where: str) -> Iterator[bytes]:
    """The raw (not decoded) body in pieces as they arrive, under the watch, for blobs."""
    return _raw_chunks(resp, where)


def is_timeout(error: BaseException) -> bool:
    """Whether a requests/urllib3 error is, underneath, a socket timeout of a connected exchange.

    Connecting is not: urllib3's ``NewConnectionError`` (connection refused) even derives from
    its ``ConnectTimeoutError``, and both mean "cannot connect".
    """
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (urllib3.exceptions.ConnectTimeoutError, requests.ConnectTimeout)):
            return False
        if isinstance(e, (socket.timeout, TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)):
            return True
        stack.extend([e.__cause__, e.__context__, *e.args, getattr(e, "reason", None)])
    return False


def close_quietly(resp: requests.Response) -> None:
    transfer = transfer_of(resp)
    if transfer is not None:
        transfer.finish()
    resp.close()
