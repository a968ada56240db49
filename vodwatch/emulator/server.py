"""HTTP plumbing: a threading HTTP/1.1 server with keep-alive, streamed bodies,
connection tracking (so stop and "offline" can cut every connection) and
abrupt resets on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import socket
import socketserver
import struct
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from .store import Received

CHUNK = 1024 * 1024
log = logging.getLogger("vodwatch.emulator")


class Abort(Exception):
    """Drop the connection with a reset instead of answering."""


class BodyTooLarge(Exception):
    """The body is larger than the caller is willing to hold in memory."""


class App(Protocol):
    def dispatch(self, ex: Exchange) -> None: ...


class Exchange:
    """One request and its answer, as handlers see it."""

    def __init__(self, handler: Handler, stop: threading.Event) -> None:
        self._h = handler
        self.stop = stop
        self.request_id = uuid.uuid4().hex
        self.method = handler.command
        split = urlsplit(handler.path)
        self.raw_path = split.path
        self.path = unquote(split.path)
        self.query: list[tuple[str, str]] = parse_qsl(split.query, keep_blank_values=True)
        self.headers = handler.headers
        self.started = time.time()
        # Filled in by the router, for recording.
        self.operation = ""
        self.json: Any = None
        self.status = 0
        self.error_code = ""
        self.responded = False
        self.abort_instead_of_respond = False
        self.rate: float | None = None  # bytes/s for bodies in and out
        # Called once, just before the answer leaves, so a client that has its
        # answer always finds the request recorded.
        self.recorder: Callable[[Exchange], None] | None = None
        self._recorded = False
        length = handler.headers.get("Content-Length")
        try:
            self.content_length: int | None = int(length) if length is not None else None
        except ValueError:
            self.content_length = None
        self.chunked = "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower()
        self.remaining = max(0, self.content_length or 0) if not self.chunked else 0

    def record(self) -> None:
        if self.recorder is not None and not self._recorded:
            self._recorded = True
            self.recorder(self)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def query_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.query:
            out.setdefault(name, []).append(value)
        return out

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def has_param(self, name: str) -> bool:
        return any(k == name for k, _ in self.query)

    # -- request body ----------------------------------------------------------
    def _read(self, size: int) -> bytes:
        self._h.send_continue()
        data = self._h.rfile.read(min(size, self.remaining))
        if not data:
            raise ConnectionError("client closed the connection mid-body")
        self.remaining -= len(data)
        return data

    def read_body(self, limit: int) -> bytes:
        """The whole body in memory; raises BodyTooLarge past ``limit`` bytes."""
        if self.remaining > limit:
            raise BodyTooLarge()
        chunks = []
        while self.remaining:
            chunks.append(self._read(CHUNK))
        return b"".join(chunks)

    def read_some(self, size: int) -> None:
        """Read and drop up to ``size`` body bytes (for a reset mid-body)."""
        while size > 0 and self.remaining:
            size -= len(self._read(min(size, CHUNK)))

    def receive(self, tmp_dir: Path, into: tuple[Path, int] | None = None) -> Received:
        """Stream the body to a file while hashing it (never all in memory).

        A new temporary file in ``tmp_dir``, or ``into``: (file, offset) to write at.
        """
        path, offset = into or (tmp_dir / f"body-{uuid.uuid4().hex}", 0)
        md5 = hashlib.md5()
        size = 0
        pacer = _Pacer(self.rate, self.stop)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | (0 if into else os.O_TRUNC), 0o644)
            try:
                while self.remaining:
                    data = self._read(pacer.chunk)
                    md5.update(data)
                    view = memoryview(data)
                    while view:
                        written = os.pwrite(fd, view, offset + size)
                        view = view[written:]
                        size += written
                    pacer.spent(len(data))
            finally:
                os.close(fd)
        except BaseException:
            if into is None:
                path.unlink(missing_ok=True)
            raise
        return Received(path=path, size=size, md5=md5.digest(), offset=offset)

    def close_after(self) -> None:
        """Answer, then close the connection without reading the rest of the body."""
        self.remaining = 0
        self._h.close_connection = True

    def discard_body(self) -> None:
        """Consume what is left of the body so the connection can be reused."""
        if self.remaining and self._h.continue_pending():
            # The client waits for "100 Continue"; it sends no body after a final answer.
            self._h.close_connection = True
            self.remaining = 0
            return
        while self.remaining:
            self._read(CHUNK)

    # -- answer ----------------------------------------------------------------
    def respond(self, status: int, body: bytes = b"", *, content_type: str | None = None,
                headers: dict[str, str] | None = None, length: int | None = None) -> None:
        """Send the answer; ``length`` overrides Content-Length (HEAD)."""
        if self.abort_instead_of_respond:
            raise Abort()
        self.discard_body()
        h = self._h
        self.status = status
        self.responded = True
        self.record()
        h.send_response(status)
        h.send_header("X-Request-Id", self.request_id)
        if content_type:
            h.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        if body and self.method != "HEAD":
            h.wfile.write(body)

    def respond_file(self, status: int, path: Path, offset: int, length: int,
                     headers: dict[str, str]) -> None:
        """Stream ``length`` bytes of ``path`` from ``offset`` as the body."""
        self.respond(status, headers=headers, length=length)
        if self.method == "HEAD":
            return
        pacer = _Pacer(self.rate, self.stop)
        with path.open("rb") as src:
            src.seek(offset)
            left = length
            while left > 0:
                data = src.read(min(left, pacer.chunk))
                if not data:
                    raise ConnectionError("object shrank while being sent")
                self._h.wfile.write(data)
                left -= len(data)
                pacer.spent(len(data))

    def wait_for_peer_close(self) -> None:
        """Block until the client hangs up or the emulator stops (the "hang" fault)."""
        sock = self._h.connection
        while not self.stop.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    return
            except (OSError, ValueError):
                return

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when the emulator stops."""
        if seconds > 0:
            self.stop.wait(seconds)


class _Pacer:
    """Holds a transfer to ``rate`` bytes/s (None: as fast as possible)."""

    def __init__(self, rate: float | None, stop: threading.Event) -> None:
        self.rate = rate
        self.stop = stop
        self.chunk = CHUNK if not rate else int(min(CHUNK, max(16 * 1024, rate / 20)))
        self.start = time.monotonic()
        self.done = 0

    def spent(self, size: int) -> None:
        if not self.rate:
            return
        self.done += size
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            self.stop.wait(ahead)


class Handler(BaseHTTPRequestHandler):
    """Hands each request to the app as an Exchange; keep-alive by default."""

    protocol_version = "HTTP/1.1"
    server_version = "vodwatch-emulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle plus the
        # peer's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def parse_request(self) -> bool:
        self._expect = False
        self._continue_sent = False
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        # Answer "100 Continue" only when the body is actually read, so a request
        # refused up front (bad signature) never makes the client send its body.
        self._expect = True
        return True

    def send_continue(self) -> None:
        if self._expect and not self._continue_sent:
            self._continue_sent = True
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def continue_pending(self) -> bool:
        return self._expect and not self._continue_sent

    def _serve(self) -> None:
        ex = Exchange(self, self.server.stopping)
        try:
            self.server.app.dispatch(ex)
        except Abort:
            self.close_connection = True
            self.server.mark_aborted(self.connection)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception:
            log.error("emulator error on %s %s\n%s", ex.method, ex.raw_path,
                      traceback.format_exc())
            self.close_connection = True
            if not ex.responded:
                with contextlib.suppress(Exception):
                    ex.remaining = 0
                    ex.respond(500, b'{"error_code":"VOD.10051","error_msg":"Internal error"}',
                               content_type="application/json")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threading server that knows its live connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._aborted: set[int] = set()
        self._cond = threading.Condition()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS look-up; not wanted here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._cond:
            self._conns.add(request)
        super().process_request(request, client_address)

    def mark_aborted(self, sock: socket.socket) -> None:
        with self._cond:
            self._aborted.add(id(sock))

    def shutdown_request(self, request: Any) -> None:
        with self._cond:
            aborted = id(request) in self._aborted
            self._aborted.discard(id(request))
        if aborted:
            # Linger 0 turns close() into a TCP reset: the client sees the connection drop.
            with contextlib.suppress(OSError):
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
        else:
            super().shutdown_request(request)
        with self._cond:
            self._conns.discard(request)
            self._cond.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s\n%s", client_address, traceback.format_exc())

    def cut_all(self, wait: float = 5.0) -> None:
        """Stop handlers and cut every open connection; wait for their threads to end."""
        self.stopping.set()
        with self._cond:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + wait
        with self._cond:
            while self._conns and time.monotonic() < deadline:
                self._cond.wait(0.05)


class ServerThread:
    """A listening server and the thread running it."""

    def __init__(self, host: str, port: int, app: App) -> None:
        self.httpd = EmulatorHTTPServer((host, port), app)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name=f"emulator-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.cut_all()
        self._thread.join(5)

