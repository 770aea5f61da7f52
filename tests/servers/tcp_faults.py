"""A TCP proxy that drops connections on cue, for servers whose protocol we cannot answer for.

LDAPS is TLS end to end, so nothing between ldap3 and the Samba DC can forge an LDAP "busy"
result; what the network can do to an LDAP client is what this proxy does: cut the connections
that are open (a DC restart, a load balancer's idle reset) and refuse the next ones for as many
faults as a test scripts. The provider must meet both as a retryable "unreachable" and reconnect.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator


class TcpFaultProxy:
    """Relays 127.0.0.1:<port> to `upstream`. `script`: one fault per entry; each new
    connection while the script is not empty is accepted and closed at once (and takes one
    entry), and setting it cuts every relayed connection open at that moment."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._script: list[str] = []
        self._open: set[socket.socket] = set()
        self.dropped = 0
        """Connections cut or refused so far (what a test checks the faults really happened)."""
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def script(self) -> list[str]:
        with self._lock:
            return list(self._script)

    @script.setter
    def script(self, faults: list[str]) -> None:
        with self._lock:
            self._script = list(faults)
            cut, self._open = self._open, set()
            self.dropped += len(cut) // 2  # each relayed connection holds two sockets
        for sock in cut:
            _abort(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = bool(self._script)
                if refuse:
                    self._script.pop(0)
                    self.dropped += 1
            if refuse:
                _abort(client)
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _abort(client)
            return
        server.settimeout(None)
        with self._lock:
            self._open.update((client, server))
        pump = threading.Thread(target=_pump, args=(server, client), daemon=True)
        pump.start()
        _pump(client, server)
        pump.join()
        with self._lock:
            self._open.difference_update((client, server))

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self.script = []


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    # One side ended: end both, so the other pump stops too.
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _abort(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER on, 0 s), as a dropped connection reaches a client; the
    shutdown wakes a relay thread blocked reading it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxy(host: str, port: int) -> Iterator[TcpFaultProxy]:
    running = TcpFaultProxy((host, port))
    try:
        yield running
    finally:
        running.close()
