"""A registry that misbehaves on purpose: a loopback HTTP/1.1 server whose answers, path by
path, are endless, trickle, never come, or redirect; every other request is passed to a real
``docker-registry`` (when one is given), so a client gets far enough to meet the fault.

Behaviours (``HostileServer.on(method, path_regex, behaviour)``):

* ``Endless(status, headers)``: the status line and headers, then body bytes as fast as the
  client takes them, until it hangs up (``sent`` counts them: proof the client stopped);
* ``Trickle(body, every)``: a ``Content-Length`` answer, one byte every ``every`` seconds;
* ``Silent()``: reads the request, never answers;
* ``SlowReader(every, status)``: reads an upload's body one KiB every ``every`` seconds (with
  a small receive buffer, so the client's sends really block), then answers;
* ``Respond(status, headers, body)``, ``Redirect(status, location)``.

``HostileServer(silent=True)`` accepts connections and never reads or writes a byte (a
registry that hangs after ``accept``).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from tests.peers.registry import RegistryPeer, read_request_body

_HOP_BY_HOP = ("connection", "transfer-encoding", "keep-alive", "content-length", "date", "server")


@dataclass
class Endless:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    piece: bytes = b"x" * 65536
    sent: int = 0

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        handler.send_response(self.status)
        for k, v in self.headers.items():
            handler.send_header(k, v)
        handler.send_header("Connection", "close")  # no length: the body ends when the connection does
        handler.end_headers()
        handler.close_connection = True
        try:
            while True:
                handler.wfile.write(self.piece)
                self.sent += len(self.piece)
        except OSError:
            return


@dataclass
class Trickle:
    body: bytes
    every: float
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    sent: int = 0

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        handler.send_response(self.status)
        for k, v in self.headers.items():
            handler.send_header(k, v)
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        try:
            for i in range(len(self.body)):
                handler.wfile.write(self.body[i : i + 1])
                self.sent += 1
                time.sleep(self.every)
        except OSError:
            return


@dataclass
class Silent:
    seen: int = 0

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.seen += 1
        handler.close_connection = True
        _wait_for_hangup(handler.connection)


@dataclass
class Respond:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, self.status, self.headers, self.body)


@dataclass
class Redirect:
    location: str
    status: int = 307

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        _reply(handler, self.status, {"Location": self.location}, b"")


@dataclass
class SlowReader:
    """For an upload of at least ``min_length`` bytes (smaller ones pass): take the body a KiB
    every ``every`` seconds, and after ``stop_after`` bytes take nothing more (a registry that
    hangs mid-upload); then answer ``status``."""

    every: float
    status: int = 500
    stop_after: int | None = None
    min_length: int = 1024 * 1024
    received: int = 0  # over all requests

    def applies(self, handler: BaseHTTPRequestHandler) -> bool:
        return int(handler.headers.get("Content-Length") or 0) >= self.min_length

    def __call__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        taken = 0
        try:
            while taken < length:
                if self.stop_after is not None and taken >= self.stop_after:
                    _wait_for_hangup(handler.connection, limit=120, read=False)
                    handler.close_connection = True
                    return
                data = handler.rfile.read(min(1024, length - taken))
                if not data:
                    return
                taken += len(data)
                self.received += len(data)
                time.sleep(self.every)
        except OSError:
            return
        _reply(handler, self.status, {}, b"")


Behaviour = Callable[[BaseHTTPRequestHandler, bytes], None]


def _reply(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    handler.send_response(status)
    for k, v in headers.items():
        if k.lower() not in _HOP_BY_HOP:
            handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _wait_for_hangup(sock: socket.socket, limit: float = 600, read: bool = True) -> None:
    """Block until the peer closes the connection (or ``limit`` seconds), without answering;
    without ``read``, not taking a byte either (so the peer's sends block)."""
    deadline = time.monotonic() + limit
    sock.settimeout(1)
    while time.monotonic() < deadline:
        if not read:
            try:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return
            time.sleep(0.2)
            continue
        try:
            if not sock.recv(65536):
                return
        except socket.timeout:
            continue
        except OSError:
            return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on a misbehaving server is the point


class HostileServer:
    def __init__(self, upstream: RegistryPeer | None = None, *, silent: bool = False) -> None:
        self.upstream = upstream
        self.silent = silent
        self.rules: list[tuple[str, re.Pattern[str], Behaviour]] = []
        self.log: list[tuple[str, str]] = []  # (method, path) of every request
        self.accepted = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accepted sockets
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def on(self, method: str, path: str, behaviour: Behaviour) -> Behaviour:
        with self._lock:
            self.rules.insert(0, (method, re.compile(path), behaviour))
        return behaviour

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _match(self, method: str, path: str) -> Behaviour | None:
        with self._lock:
            self.log.append((method, path))
            for rule_method, pattern, behaviour in self.rules:
                if rule_method in (method, "*") and pattern.search(path):
                    return behaviour
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.accepted += 1

            def handle(self) -> None:
                if server.silent:
                    _wait_for_hangup(self.connection)  # accepted; not a byte read or written
                    return
                super().handle()

            def _handle(self) -> None:
                path = self.path.partition("?")[0]
                behaviour = server._match(self.command, path)
                if isinstance(behaviour, SlowReader):
                    if behaviour.applies(self):
                        behaviour(self, b"")  # it reads the body itself, slowly
                        return
                    behaviour = None
                body = read_request_body(self)
                if behaviour is not None:
                    behaviour(self, body)
                    return
                if server.upstream is None:
                    _reply(self, 404, {"Content-Type": "text/plain"}, b"404 page not found\n")
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                assert server.upstream is not None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", server.upstream.port, timeout=60)
                try:
                    send_body = body if body or self.command in ("PUT", "POST", "PATCH") else None
                    conn.request(self.command, self.path, body=send_body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    answer = {k: v for k, v in resp.getheaders()}
                    if "Location" in answer:  # keep the client on this server
                        answer["Location"] = answer["Location"].replace(server.upstream.host, server.host)
                    _reply(self, resp.status, answer, data)
                finally:
                    conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
