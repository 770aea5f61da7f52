"""A fault-injecting HTTP proxy in front of moto: AWS's failure answers, which moto never gives.

The engine's boto3 clients talk to the proxy; the proxy forwards to moto unless told otherwise:
- `script`: the next requests fail as the kinds say, in order. `throttle` (and `429`, which AWS
  does not send: it throttles with 400) answers as AWS does for the request's protocol: IAM (query
  protocol) `400 <ErrorResponse><Error><Code>Throttling</Code>...`, Identity Center and Identity
  Store (JSON 1.1) `400 {"__type": "ThrottlingException", ...}` with `x-amzn-ErrorType`; `500` and
  `503` are `InternalFailure` / `ServiceUnavailable` (IAM) or `InternalServerException` (JSON).
- `latency`: seconds added before each answer.
- `assignment_paths`: for the next Identity Center CreateAccountAssignment or
  DeleteAccountAssignment, the statuses its request goes through, e.g. `("IN_PROGRESS",
  "IN_PROGRESS", "SUCCEEDED")` or `("IN_PROGRESS", "FAILED")`. The write answers the first
  status with a request id of the proxy's own; each Describe...Status on that id moves one step
  on. The write reaches moto only when its path reaches SUCCEEDED (so the assignment is not
  listed while IN_PROGRESS, as on AWS), and never when it ends FAILED (with `failure_reason`).

`log` keeps (action, status) per request, so tests see what the engine sent and was answered.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_WRITES = {"CreateAccountAssignment": "AccountAssignmentCreationStatus",
           "DeleteAccountAssignment": "AccountAssignmentDeletionStatus"}
_DESCRIBES = {"DescribeAccountAssignmentCreationStatus": "AccountAssignmentCreationStatus",
              "DescribeAccountAssignmentDeletionStatus": "AccountAssignmentDeletionStatus"}
_STATUS_ID = {"AccountAssignmentCreationStatus": "AccountAssignmentCreationRequestId",
              "AccountAssignmentDeletionStatus": "AccountAssignmentDeletionRequestId"}


@dataclass
class _Pending:
    path: list[str]
    key: str
    request: tuple[str, str, dict[str, str], bytes]
    status: dict[str, Any]
    forwarded: bool = False


@dataclass
class AwsFaultProxy:
    upstream: str
    script: list[str] = field(default_factory=list)
    latency: float = 0.0
    assignment_paths: list[tuple[str, ...]] = field(default_factory=list)
    failure_reason: str = "Received a 409 status error: Conflict with another in-flight request."
    log: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="aws-faults",
                         daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self, action: str) -> int:
        with self.lock:
            return sum(1 for a, _ in self.log if a == action)

    # -- one exchange -----------------------------------------------------------------------------
    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, str], bytes]:
        if self.latency:
            time.sleep(self.latency)
        action, is_json = _action(headers, body)
        with self.lock:
            fault = self.script.pop(0) if self.script else None
        if fault is not None:
            answer = _fault(fault, is_json)
        elif action in _WRITES and self.assignment_paths:
            answer = self._start_write(action, method, path, headers, body)
        elif action in _DESCRIBES and self._is_ours(body):
            answer = self._describe(body)
        else:
            answer = self.forward(method, path, headers, body)
        with self.lock:
            self.log.append((action, answer[0]))
        return answer

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, dict[str, str], bytes]:
        upstream = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1",
                                                upstream.port, timeout=60)
        try:
            sent = {k: v for k, v in headers.items()
                    if k.lower() not in ("host", "content-length", "connection")}
            sent["Host"] = upstream.netloc
            connection.request(method, path, body=body, headers=sent)
            reply = connection.getresponse()
            payload = reply.read()
            kept = {k: v for k, v in reply.getheaders()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                         "server", "date")}
            return reply.status, kept, payload
        finally:
            connection.close()

    def _start_write(self, action: str, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            steps = list(self.assignment_paths.pop(0))
        key = _WRITES[action]
        sent = json.loads(body or b"{}")
        request_id = str(uuid.uuid4())
        status = {"Status": steps[0], "RequestId": request_id, "TargetId": sent.get("TargetId"),
                  "TargetType": sent.get("TargetType"),
                  "PermissionSetArn": sent.get("PermissionSetArn"),
                  "PrincipalType": sent.get("PrincipalType"),
                  "PrincipalId": sent.get("PrincipalId"), "CreatedDate": time.time()}
        pending = _Pending(steps[1:], key, (method, path, headers, body), status)
        with self.lock:
            self._pending[request_id] = pending
        if steps[0] == "SUCCEEDED":
            self._settle(pending, "SUCCEEDED")
        return _json(200, {key: pending.status})

    def _is_ours(self, body: bytes) -> bool:
        sent = json.loads(body or b"{}")
        ids = {sent.get(v) for v in _STATUS_ID.values()}
        with self.lock:
            return any(i in self._pending for i in ids if i)

    def _describe(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        sent = json.loads(body or b"{}")
        with self.lock:
            request_id = next(v for k in _STATUS_ID.values()
                              if (v := sent.get(k)) in self._pending)
            pending = self._pending[request_id]
            if pending.path:
                self._settle(pending, pending.path.pop(0))
            return _json(200, {pending.key: pending.status})

    def _settle(self, pending: _Pending, state: str) -> None:
        pending.status["Status"] = state
        if state == "FAILED":
            pending.status["FailureReason"] = self.failure_reason
        if state == "SUCCEEDED" and not pending.forwarded:
            pending.forwarded = True
            code, _, payload = self.forward(*pending.request)
            assert code == 200, payload


def _action(headers: dict[str, str], body: bytes) -> tuple[str, bool]:
    target = next((v for k, v in headers.items() if k.lower() == "x-amz-target"), "")
    if target:
        return target.rsplit(".", 1)[-1], True
    form = parse_qs(body.decode(errors="replace"))
    return (form.get("Action") or ["?"])[0], False


def _json(status: int, body: Any, error_type: str | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/x-amz-json-1.1",
               "x-amzn-RequestId": str(uuid.uuid4())}
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return status, headers, json.dumps(body).encode()


def _fault(kind: str, is_json: bool) -> tuple[int, dict[str, str], bytes]:
    if kind in ("throttle", "429"):
        status, code, json_code, message = 400, "Throttling", "ThrottlingException", \
            "Rate exceeded"
    elif kind == "500":
        status, code, json_code, message = 500, "InternalFailure", "InternalServerException", \
            "We encountered an internal error. Please try again."
    elif kind == "503":
        status, code, json_code, message = 503, "ServiceUnavailable", \
            "InternalServerException", "Service is unavailable. Please try again."
    else:
        raise ValueError(f"no AWS fault {kind!r}")
    if is_json:
        return _json(status, {"__type": json_code, "Message": message}, json_code)
    request_id = str(uuid.uuid4())
    xml = (f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
           f"<Type>{'Sender' if status < 500 else 'Receiver'}</Type><Code>{code}</Code>"
           f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
           "</ErrorResponse>")
    return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, xml.encode()


class _Handler(BaseHTTPRequestHandler):
    owner: AwsFaultProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.owner.answer(
            self.command, self.path, dict(self.headers.items()), body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@contextmanager
def proxy(upstream: str) -> Iterator[AwsFaultProxy]:
    made = AwsFaultProxy(upstream)
    made.start()
    try:
        yield made
    finally:
        made.stop()
