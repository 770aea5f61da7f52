"""The emulators' HTTP layer reads a chunked request body (RFC 9112 7.1), as real platforms do."""

from __future__ import annotations

import socket

from accessctl.emulators.http import Emulator


class Echo(Emulator):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", "/echo", lambda request: {"got": request.body.decode()})


def raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_chunked_body_arrives_whole_and_the_connection_stays_usable() -> None:
    with Echo() as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        body = b'{"user_id": 7,' + b' "access_level": 30}'
        chunked = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n"
                   + b"e;ext=1\r\n" + body[:14] + b"\r\n"
                   + f"{len(body) - 14:x}\r\n".encode() + body[14:] + b"\r\n"
                   + b"0\r\nX-Trailer: t\r\n\r\n")
        answer = raw(port, chunked)
        assert answer.startswith(b"HTTP/1.1 200")
        assert b'{"got": "{\\"user_id\\": 7, \\"access_level\\": 30}"}' in answer
        assert [e.body for e in server.log] == [body]


def test_a_chunked_request_followed_by_another_on_the_same_connection() -> None:
    with Echo() as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        first = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n0\r\n\r\n")
        second = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nde"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(first + second)
            answer = b""
            while answer.count(b"HTTP/1.1 200") < 2 or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert b'{"got": "abc"}' in answer and b'{"got": "de"}' in answer
        assert [e.body for e in server.log] == [b"abc", b"de"]
