"""A small threaded HTTP server that emulators build on.

It gives every emulator the same test hooks: a request log, request counting, injected latency, and
injected faults (5xx, 429 with Retry-After, dropped connections) either at a random rate from a
seeded generator or scripted for the next N requests.

Strict contract mode: when an emulator has a `contract` (a checker of the vendor's API
description, installed by name through `use_contract`) and `strict` is on, every request it
receives and every answer it gives is checked against that contract before the answer is sent, and
each violation is kept in `violations` (and in the process-wide list `take_violations` drains), so a
test harness can fail the test that caused it. `STRICT` is the default for new emulators: off, so
that `accessctl demo` pays nothing; the test suite turns it on. `lax()` turns it off for the calls
of one block, for tests that send what the platform would refuse on purpose.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from accessctl.emulators.consistency import ListingLag

JSON = Any


class HttpError(Exception):
    """Raised by a handler to answer with an error status and the platform's error body."""

    def __init__(self, status: int, body: JSON = None, headers: dict[str, str] | None = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    route: str | None = None
    """The template of the route that matched, once dispatched."""

    def json(self) -> JSON:
        if not self.body:
            return None
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: JSON = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    body: bytes
    headers: dict[str, str]
    peer: str = ""
    """The client's address and port: one per connection it opened."""


Handler = Callable[[Request], Response | JSON]


class Contract(Protocol):
    """A vendor's API description, as a checker of one exchange."""

    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        """What in this request or its answer the description does not allow (empty: nothing).
        `injected` is True for an answer a test forced (a fault), not one a route gave."""
        ...


STRICT = False
"""Whether new emulators check their exchanges against their contract (the test suite sets it)."""

_contracts: dict[str, Callable[[], Contract]] = {}
_violations: list[str] = []
_violations_lock = threading.Lock()


def use_contract(emulator_name: str, factory: Callable[[], Contract]) -> None:
    """Give every emulator named `emulator_name` started from now on the contract `factory`
    makes (called at each start: cache what is costly to load)."""
    _contracts[emulator_name] = factory


def take_violations() -> list[str]:
    """Every contract violation any emulator of this process recorded since the last call."""
    with _violations_lock:
        found = list(_violations)
        _violations.clear()
    return found


@dataclass
class Faults:
    """What to break. `rate` is the chance a request fails; `kinds` picks how; `script` forces the
    next failures in order (each item a kind), before `rate` is consulted."""

    latency: float = 0.0
    rate: float = 0.0
    kinds: tuple[str, ...] = ("500", "503", "429", "drop")
    retry_after: int = 1
    script: list[str] = field(default_factory=list)
    seed: int = 0


class Emulator:
    """Subclasses register routes in `__init__` with `self.route(method, template, handler)`."""

    name = "emulator"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler, str]] = []
        self.lock = threading.RLock()
        self.log: list[LoggedRequest] = []
        self.strict = STRICT
        self.contract: Contract | None = None
        self.violations: list[str] = []
        self.listing_lag = ListingLag()
        """Eventual consistency of member listings (off unless a test sets its seconds)."""
        self.faults = Faults()
        self._random = random.Random(0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing -------------------------------------------------------------------------------
    def route(self, method: str, template: str, handler: Handler) -> None:
        """Register `handler` for `template`, e.g. "/repos/{owner}/{repo}/pulls/{number}".

        A parameter matches one path segment; a parameter written `{name:path}` matches the rest.
        """
        pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler, template))

    def dispatch(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler, template in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            allowed = True
            if method != request.method:
                continue
            request.route = template
            request.params = {k: unquote(v) for k, v in match.groupdict().items()}
            try:
                result = handler(request)
            except HttpError as error:
                return Response(error.status, error.body, error.headers)
            return result if isinstance(result, Response) else Response(200, result)
        if allowed:
            return Response(405, self.error_body(405, "Method Not Allowed"))
        return Response(404, self.error_body(404, "Not Found"))

    def error_body(self, status: int, message: str) -> JSON:
        """The platform's error body shape; subclasses override."""
        return {"message": message}

    # -- the contract --------------------------------------------------------------------------
    def check_contract(self, request: Request, response: Response, injected: bool) -> None:
        """Check one exchange against the contract (in strict mode) and record what breaks it."""
        if not self.strict or self.contract is None:
            return
        try:
            problems = self.contract.check(request, response, injected)
        except Exception as error:  # a checker that cannot read the exchange is a finding too
            problems = [f"the contract check failed: {type(error).__name__}: {error}"]
        if not problems:
            return
        query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        call = f"{self.name}: {request.method} {request.path}{'?' + query if query else ''}" \
               f" -> {response.status}"
        found = [f"{call}: {problem}" for problem in problems]
        with self.lock:
            self.violations.extend(found)
        with _violations_lock:
            _violations.extend(found)

    @contextlib.contextmanager
    def lax(self) -> Iterator[None]:
        """Strict mode off for the block: for requests a test sends outside the contract on
        purpose (a misspelt field, an unknown path) to see how the emulator refuses them."""
        before = self.strict
        self.strict = False
        try:
            yield
        finally:
            self.strict = before

    # -- faults --------------------------------------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self._random = random.Random(faults.seed)

    def _pick_fault(self) -> str | None:
        with self.lock:
            if self.faults.script:
                return self.faults.script.pop(0)
            if self.faults.rate and self._random.random() < self.faults.rate:
                return self._random.choice(self.faults.kinds)
        return None

    def fault_response(self, kind: str) -> Response:
        if kind == "429":
            return Response(
                429,
                self.error_body(429, "API rate limit exceeded"),
                {"Retry-After": str(self.faults.retry_after)},
            )
        status = int(kind)
        return Response(status, self.error_body(status, "Service Unavailable"))

    # -- request counting ----------------------------------------------------------------------
    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        with self.lock:
            return sum(
                1
                for entry in self.log
                if (method is None or entry.method == method) and entry.path.startswith(path_prefix)
            )

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "emulator not started"
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> str:
        emulator = self
        if self.contract is None and self.name in _contracts:
            self.contract = _contracts[self.name]()

        class _Handler(_RequestHandler):
            owner = emulator

        self._server = _QuietServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{self.name}-http", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: more clients connecting at once (a run at
    # --concurrency 32 opening its connections) lose their SYN and retry a second later.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test, a killed process) is not the server's error.
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Emulator
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every response.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the emulator keeps its own log
        return

    def _read_body(self) -> bytes:
        # A chunked body (RFC 9112 7.1) has no Content-Length: read chunk by chunk up to the
        # zero-size chunk, then skip the trailer section.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # the CRLF after each chunk
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.owner
        body = self._read_body()
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        if owner.faults.latency:
            time.sleep(owner.faults.latency)
        fault = owner._pick_fault()
        if fault == "drop":
            self._record(request, parts.query, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        response = owner.fault_response(fault) if fault else owner.dispatch(request)
        self._record(request, parts.query, response.status)
        # Checked before it is sent: once the client has the answer, the violation is on record.
        owner.check_contract(request, response, injected=bool(fault))
        self._send(response)

    def _record(self, request: Request, query: str, status: int) -> None:
        with self.owner.lock:
            host, port = self.client_address[:2]
            self.owner.log.append(
                LoggedRequest(request.method, request.path, query, status, request.body,
                              request.headers, f"{host}:{port}")
            )

    def _send(self, response: Response) -> None:
        if response.raw is not None:
            payload = response.raw
            content_type = response.headers.pop("Content-Type", "application/octet-stream")
        elif response.body is None and response.status in (204, 304):
            payload = b""
            content_type = ""
        else:
            payload = json.dumps(response.body).encode() if response.body is not None else b""
            content_type = response.headers.pop("Content-Type", "application/json; charset=utf-8")
        self.send_response(response.status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
