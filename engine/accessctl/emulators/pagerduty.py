"""A PagerDuty REST API v2 emulator: who is on call, for auto-approval rules.

It answers `GET /oncalls` as PagerDuty's published API description says
(tests/contracts/pagerduty-rest-subset.json, cut from PagerDuty/api-schema
`reference/REST/openapiv3.json`):

- `Authorization: Token token=<key>` (an API key) or `Bearer <token>`; anything else is a 401
  with PagerDuty's error body `{"error": {"message", "code"}}`.
- Filters `schedule_ids[]`, `escalation_policy_ids[]`, `user_ids[]` (repeated), and the time
  range `since`/`until` (an on-call overlapping it is listed; both default to now; `until` before
  `since`, or a range over 90 days, is a 400 "Invalid Input Provided" with `errors`).
- Classic pagination: `offset` and `limit` (default 25, at most 100), the answer echoing both
  with `more`, and `total` null unless `total=true`.
- Each on-call: `user`, `schedule` (absent for a user named directly in the escalation policy,
  whose on-call has no `start` and `end` either), `escalation_policy`, `escalation_level`.
- A 429 (injected, as on every emulator: emulators/http.py) with PagerDuty's error body.
- HTTPS only, as PagerDuty's client library accepts no other scheme: a certificate made for
  127.0.0.1 when the emulator starts, whose file (`ca_file`) the client is told to trust
  (SSL_CERT_FILE).

State: users, escalation policies with levels whose targets are schedules or users, and shifts
on schedules. The seeding helpers (`add_user`, `add_escalation_policy`, `add_schedule`,
`add_shift`, `add_direct`) build scenarios for tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

API = "https://api.pagerduty.com"
WEB = "https://acme.pagerduty.com"
MAX_RANGE = timedelta(days=90)
ROUTES = (("GET", "/oncalls"),)
"""Every route this emulator answers, each an operation of the contract."""
CONTRACT = "pagerduty-rest-subset.json"
"""The contract file (under tests/contracts/) these routes are checked against."""


@dataclass(frozen=True)
class LoggedResponse:
    method: str | None
    """None for an injected fault (answered before routing)."""
    path: str | None
    status: int
    body: JSON


@dataclass
class Shift:
    user: str
    start: datetime
    end: datetime


@dataclass
class Schedule:
    id: str
    name: str
    shifts: list[Shift] = field(default_factory=list)


@dataclass
class EscalationPolicy:
    id: str
    name: str
    levels: list[list[tuple[str, str]]] = field(default_factory=list)
    """Per level (1-based by position), its targets: ("schedule", id) or ("user", id)."""


class PagerDutyEmulator(Emulator):
    name = "pagerduty"

    def __init__(self, token: str = "pd-emulator-token") -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.tokens = {token}
        self.ca_file = ""
        """The certificate to trust (set by `start`)."""
        self.token = token
        self.users: dict[str, str] = {}
        self.schedules: dict[str, Schedule] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.responses: list[LoggedResponse] = []
        """Every answer, so that tests can check each against the contract."""
        for method, path in ROUTES:
            self.route(method, path, self._oncalls)

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        with self.lock:
            self.responses.append(LoggedResponse(request.method, request.path, response.status,
                                                 response.body))
        return response

    def fault_response(self, kind: str) -> Response:
        response = super().fault_response(kind)
        with self.lock:
            self.responses.append(LoggedResponse(None, None, response.status, response.body))
        return response

    def error_body(self, status: int, message: str) -> JSON:
        codes = {400: 2001, 401: 2006, 403: 2010, 404: 2100, 429: 2020}
        text = {429: "Rate Limit Exceeded", 401: "Unauthorized"}.get(status, message)
        return {"error": {"message": text, "code": codes.get(status, 2000)}}

    # -- HTTPS ---------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        import ssl

        super().start(port)
        assert self._server is not None
        self.ca_file, key_file = _certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        # Wrapped before any client knows the port; the handshake runs in each request's thread.
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        return self.base_url

    @property
    def base_url(self) -> str:
        return super().base_url.replace("http://", "https://", 1)

    # -- seeding -------------------------------------------------------------------------------
    def add_user(self, user_id: str, name: str) -> str:
        with self.lock:
            self.users[user_id] = name
        return user_id

    def add_escalation_policy(self, policy_id: str, name: str) -> str:
        with self.lock:
            self.policies[policy_id] = EscalationPolicy(policy_id, name)
        return policy_id

    def _level(self, policy_id: str, level: int) -> list[tuple[str, str]]:
        levels = self.policies[policy_id].levels
        while len(levels) < level:
            levels.append([])
        return levels[level - 1]

    def add_schedule(self, schedule_id: str, name: str, policy_id: str, level: int = 1) -> str:
        """A schedule, as a target of `level` of the escalation policy."""
        with self.lock:
            self.schedules[schedule_id] = Schedule(schedule_id, name)
            self._level(policy_id, level).append(("schedule", schedule_id))
        return schedule_id

    def add_shift(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> None:
        with self.lock:
            self.schedules[schedule_id].shifts.append(Shift(user_id, start, end))

    def add_direct(self, policy_id: str, user_id: str, level: int = 1) -> None:
        """A user named directly in the escalation policy: always on call there."""
        with self.lock:
            self._level(policy_id, level).append(("user", user_id))

    # -- the API -------------------------------------------------------------------------------
    def _authorize(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        for scheme in ("Token token=", "Bearer "):
            if header.startswith(scheme) and header[len(scheme):] in self.tokens:
                return
        raise HttpError(401, self.error_body(401, "Unauthorized"))

    def _invalid(self, *errors: str) -> HttpError:
        return HttpError(400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                         "errors": list(errors)}})

    def _time(self, request: Request, name: str, default: datetime) -> datetime:
        value = request.arg(name)
        if value is None or value == "":
            return default
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self._invalid(f"{name} is not a valid date-time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed

    def _number(self, request: Request, name: str, default: int) -> int:
        value = request.arg(name)
        if value is None:
            return default
        if not value.isdigit():
            raise self._invalid(f"{name} must be a non-negative integer")
        return int(value)

    def _oncalls(self, request: Request) -> JSON:
        self._authorize(request)
        now = self.clock()
        since = self._time(request, "since", now)
        until = self._time(request, "until", now)
        if until < since:
            raise self._invalid("Until cannot be before since")
        if until - since > MAX_RANGE:
            raise self._invalid("The range cannot be longer than 90 days")
        offset = self._number(request, "offset", 0)
        limit = min(max(self._number(request, "limit", 25), 1), 100)
        schedules = set(request.query.get("schedule_ids[]", []))
        policies = set(request.query.get("escalation_policy_ids[]", []))
        users = set(request.query.get("user_ids[]", []))
        with self.lock:
            found = [entry for entry in self._entries(since, until)
                     if (not schedules or entry.get("schedule", {}).get("id") in schedules)
                     and (not policies or entry["escalation_policy"]["id"] in policies)
                     and (not users or entry["user"]["id"] in users)]
        page = found[offset:offset + limit]
        total = len(found) if request.arg("total") == "true" else None
        return {"oncalls": page, "limit": limit, "offset": offset,
                "more": offset + len(page) < len(found), "total": total}

    def _entries(self, since: datetime, until: datetime) -> list[JSON]:
        entries = []
        for policy in sorted(self.policies.values(), key=lambda p: p.id):
            for level, targets in enumerate(policy.levels, start=1):
                for kind, ident in targets:
                    if kind == "user":
                        entries.append(self._entry(ident, None, policy, level, None, None))
                        continue
                    schedule = self.schedules[ident]
                    for shift in sorted(schedule.shifts, key=lambda s: (s.start, s.user)):
                        # Overlapping the range; a zero-length range is the instant itself.
                        if shift.start <= until and shift.end > since \
                                and not (since == until and shift.end == since):
                            entries.append(self._entry(shift.user, schedule, policy, level,
                                                       shift.start, shift.end))
        return entries

    def _entry(self, user: str, schedule: Schedule | None, policy: EscalationPolicy, level: int,
               start: datetime | None, end: datetime | None) -> JSON:
        entry: dict[str, JSON] = {
            "user": self._reference("user", user, self.users.get(user, user)),
            "escalation_policy": self._reference("escalation_policy", policy.id, policy.name),
            "escalation_level": level,
        }
        # A permanent on-call has no schedule, start or end. PagerDuty's prose says null; its
        # schemas allow no null there, so they are left out (read the same by the engine).
        if schedule is not None:
            entry["schedule"] = self._reference("schedule", schedule.id, schedule.name)
        if start is not None and end is not None:
            entry["start"], entry["end"] = _stamp(start), _stamp(end)
        return entry

    @staticmethod
    def _reference(kind: str, ident: str, summary: str) -> JSON:
        plural = {"user": "users", "schedule": "schedules",
                  "escalation_policy": "escalation_policies"}[kind]
        return {"id": ident, "type": f"{kind}_reference", "summary": summary,
                "self": f"{API}/{plural}/{ident}", "html_url": f"{WEB}/{plural}/{ident}"}


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_CERTIFICATE: tuple[str, str] | None = None


def _certificate() -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost (made once per process): the
    paths of its PEM file (also the file to trust) and of its key."""
    global _CERTIFICATE
    if _CERTIFICATE is None:
        import ipaddress
        import tempfile

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pagerduty emulator")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
        folder = Path(tempfile.mkdtemp(prefix="pagerduty-emulator-"))
        cert_file, key_file = folder / "cert.pem", folder / "key.pem"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        _CERTIFICATE = (str(cert_file), str(key_file))
    return _CERTIFICATE
