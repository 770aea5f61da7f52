"""Read a repository (or a commit's files) into the model, collecting every finding on the way.

The only module that turns files into model objects. It reads through a `FileSource` so that the
same code reads a working tree, a commit on the VCS, or files in memory in tests.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from accessctl import schemas
from accessctl.core.console import escape
from accessctl.core.durations import parse_duration
from accessctl.core.model import (
    AutoApproveRule,
    BreakGlass,
    BusinessHours,
    Entitlement,
    Finding,
    Location,
    PagerDutyOnCall,
    Person,
    Policies,
    ProviderInstance,
    Request,
    Rotation,
    Schedule,
    Shift,
)
from accessctl.core.timestamps import parse_timestamp
from accessctl.read.schema_errors import findings as schema_findings
from accessctl.read.yamlfile import (
    POLICY_MAX_FILE_BYTES,
    POLICY_MAX_NODES,
    Document,
    expect_mapping,
    parse,
)

REQUESTS_DIR = "access-requests"
ENTITLEMENTS_DIR = "policies/entitlements"
SCHEDULES_DIR = "policies/schedules"
IDENTITIES_FILE = "policies/identities.yaml"
PROVIDERS_FILE = "policies/providers.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
_REQUEST_PATH = re.compile(
    rf"{REQUESTS_DIR}/[a-z0-9][a-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml")
"""The one shape of a request file's path (invariant 14: names use a safe character set, so a
name cannot carry a line break, markup or a workflow command into the engine's output).
Directories are entitlement names, lower case by their schema. File names start with the
requester's login, and logins keep their case on GitHub and GitLab (Alice writes
Alice-inc-42.yaml; logins are compared case-folded everywhere), so file names may hold upper
case."""
_REQUEST_DIRECTORY = re.compile(r"[a-z0-9][a-z0-9._-]*")
_REQUEST_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LARGE_FILES = frozenset({IDENTITIES_FILE, PROVIDERS_FILE})
"""Files that grow with the organisation get the larger policy limits; requests and entitlements
keep the small ones."""


class FileSource(Protocol):
    """Where files come from: a working tree, a commit, or a dict in tests."""

    def list(self, directory: str) -> list[str]:
        """Repository-relative paths of the regular files below `directory`, recursively."""
        ...

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        ...


class TreeSource:
    """Files in a working tree. Symbolic links and anything outside the root are refused.

    Paths are checked lexically (no '..', no absolute paths) and every directory on the way is
    lstat'ed once and must be a real directory, then the file itself is opened with O_NOFOLLOW
    and must be a regular file: no symlink is followed anywhere, without a resolve() per file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._root_text = str(self.root)
        self.refused: list[Finding] = []
        self._real_dirs: dict[str, bool] = {"": True}

    def _is_real_dir(self, relative: str) -> bool:
        """Whether `relative` (and every directory above it) is a directory, not a symlink."""
        known = self._real_dirs.get(relative)
        if known is not None:
            return known
        parent, _, _ = relative.rpartition("/")
        real = self._is_real_dir(parent)
        if real:
            try:
                real = stat.S_ISDIR(os.lstat(os.path.join(self._root_text, relative)).st_mode)
            except OSError:
                real = False
        self._real_dirs[relative] = real
        return real

    def list(self, directory: str) -> list[str]:
        directory = directory.strip("/")
        if not _plain_relative(directory) or not self._is_real_dir(directory):
            if os.path.islink(os.path.join(self._root_text, directory)):
                self.refused.append(Finding(Location(directory), "symlink",
                                            "symbolic links are not read: commit the file itself"))
            return []
        found: list[str] = []
        refused: list[str] = []
        pending = [directory]
        while pending:
            current = pending.pop()
            try:
                entries = list(os.scandir(os.path.join(self._root_text, current)))
            except OSError:
                continue
            for entry in entries:
                relative = f"{current}/{entry.name}"
                if entry.is_symlink():
                    refused.append(relative)
                elif entry.is_dir(follow_symlinks=False):
                    self._real_dirs[relative] = True
                    pending.append(relative)
                elif entry.is_file(follow_symlinks=False):
                    found.append(relative)
        for relative in sorted(refused, key=_path_order):
            self.refused.append(Finding(Location(relative), "symlink",
                                        "symbolic links are not read: commit the file itself"))
        return sorted(found, key=_path_order)

    def read(self, path: str) -> bytes | None:
        if not _plain_relative(path):
            return None
        parent, _, _ = path.rpartition("/")
        if not self._is_real_dir(parent):
            return None
        try:
            handle = os.open(os.path.join(self._root_text, path),
                             os.O_RDONLY | os.O_NOFOLLOW | _O_NONBLOCK)
        except OSError:  # missing, a symlink (ELOOP), unreadable
            return None
        try:
            status = os.fstat(handle)
            if not stat.S_ISREG(status.st_mode):
                return None
            chunks = []
            want = max(status.st_size + 1, 4096)
            while chunk := os.read(handle, want):
                chunks.append(chunk)
                if len(chunk) < want:
                    break  # a short read of a regular file is its end: no empty read to learn it
            return b"".join(chunks)
        finally:
            os.close(handle)


_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
"""Opening a FIFO planted in the tree must not block: it is refused after fstat."""


def _plain_relative(path: str) -> bool:
    """A relative path without '.', '..' or empty segments: it cannot leave the root lexically."""
    if path == "":
        return True
    if path.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _path_order(path: str) -> list[str]:
    # The order sorted() gives Path objects: by segment, so 'a/b' sorts before 'a-b/c'.
    return path.split("/")


class MemorySource:
    """Files held in a dict (tests, and files read from a commit on the VCS)."""

    def __init__(self, files: Mapping[str, str | bytes]) -> None:
        self.files = {k: v.encode() if isinstance(v, str) else v for k, v in files.items()}

    def list(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return sorted(p for p in self.files if p.startswith(prefix))

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)


@dataclass
class Loaded:
    policies: Policies | None
    requests: list[Request] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _document(source: FileSource, path: str, schema: str) -> tuple[Document | None, list[Finding]]:
    raw = source.read(path)
    if raw is None:
        return None, [Finding(Location(path), "missing-file", f"{path} is missing")]
    if path in _LARGE_FILES:
        document, problems = parse(raw, path, max_bytes=POLICY_MAX_FILE_BYTES,
                                   max_nodes=POLICY_MAX_NODES)
    else:
        document, problems = parse(raw, path)
    if document is None:
        return None, problems
    problems = expect_mapping(document)
    if problems:
        return None, problems
    errors = schemas.errors(schema, document.data)
    if errors:
        return None, schema_findings(document, errors, f"schema-{schema}")
    return document, []


def load_policies(source: FileSource) -> tuple[Policies | None, list[Finding]]:
    """Providers, identities and entitlements. None when they are not usable at all."""
    found: list[Finding] = []
    providers = _load_providers(source, found)
    people, teams, admins, limit, bots = _load_identities(source, found)
    schedules = _load_schedules(source, found)
    entitlements = _load_entitlements(source, providers, found, schedules)
    if providers is None or people is None:
        return None, found
    return Policies(entitlements, people, teams, providers, admins, limit, schedules,
                    bots), found


def _documents_in(source: FileSource, directory: str, schema: str, found: list[Finding]
                  ) -> Iterator[tuple[PurePosixPath, Document]]:
    """Each `<name>.yaml` directly in `directory`, loaded and checked against `schema`; anything
    else there, and every problem, goes to `found`."""
    for path in source.list(directory):
        pure = PurePosixPath(path)
        if pure.suffix not in YAML_SUFFIXES or pure.parent.as_posix() != directory:
            found.append(Finding(Location(path), "stray-file",
                                 f"only <name>.yaml files belong in {directory}/"))
            continue
        document, problems = _document(source, path, schema)
        found.extend(problems)
        if document is not None:
            yield pure, document


def _load_schedules(source: FileSource, found: list[Finding]) -> dict[str, Schedule]:
    """On-call schedules. A broken one is reported and left out, so the rules naming it
    approve nothing (fail closed)."""
    schedules: dict[str, Schedule] = {}
    for pure, document in _documents_in(source, SCHEDULES_DIR, "schedule", found):
        schedule = _schedule(document, pure.stem, found)
        if schedule is not None:
            schedules[schedule.name] = schedule
    return schedules


def _schedule(document: Document, stem: str, found: list[Finding]) -> Schedule | None:
    data = document.data
    if data["name"] != stem:
        found.append(Finding(document.location(("name",)), "schedule-name",
                             f"name {data['name']!r} must equal the file name {stem!r}"))
        return None
    if "shifts" not in data and "rotation" not in data:
        found.append(Finding(document.location(), "schedule-empty",
                             f"schedule {stem} names nobody: add shifts or a rotation"))
        return None
    shifts: list[Shift] = []
    try:
        for index, raw in enumerate(data.get("shifts") or ()):
            where = ("shifts", index)
            start, end = parse_timestamp(raw["start"]), parse_timestamp(raw["end"])
            if end <= start:
                found.append(Finding(document.location((*where, "end")), "shift-order",
                                     "a shift's end must be after its start"))
                return None
            shifts.append(Shift(raw["who"], start, end))
        rotation = None
        if "rotation" in data:
            raw = data["rotation"]
            length = parse_duration(raw["length"])
            if length <= timedelta(0):
                found.append(Finding(document.location(("rotation", "length")), "bad-duration",
                                     "a rotation's length must be longer than zero"))
                return None
            rotation = Rotation(tuple(raw["members"]), parse_timestamp(raw["start"]), length)
    except ValueError as error:
        found.append(Finding(document.location(), "bad-schedule", f"{stem}: {error}"))
        return None
    return Schedule(stem, document.location(), tuple(shifts), rotation)


def _load_providers(source: FileSource, found: list[Finding]) -> dict[str, ProviderInstance] | None:
    from accessctl.providers import load_module

    document, problems = _document(source, PROVIDERS_FILE, "providers")
    found.extend(problems)
    if document is None:
        return None
    instances: dict[str, ProviderInstance] = {}
    for name, raw in document.data["providers"].items():
        # The keys every instance has; the rest are the platform's own settings.
        settings = {k: v for k, v in raw.items() if k not in ("platform", "max_concurrency")}
        platform = raw["platform"]
        try:
            module = load_module(platform)
        except ImportError as error:
            found.append(Finding(document.location(("providers", name, "platform")),
                                 "platform-unavailable",
                                 f"the {platform} provider cannot be loaded: {error}"))
            continue
        errors = schemas.errors_for(module.SETTINGS_SCHEMA, settings)
        if errors:
            found.extend(
                schema_findings(document, errors, "schema-provider-settings",
                                ("providers", name))
            )
            continue
        instances[name] = ProviderInstance(
            name, platform, settings, document.location(("providers", name)),
            max_concurrency=raw.get("max_concurrency"),
        )
    return instances


def _load_identities(
    source: FileSource, found: list[Finding]
) -> tuple[dict[str, Person] | None, dict[str, frozenset[str]], tuple[str, ...], int | None,
           tuple[str, ...]]:
    """people, teams, admins, the limit of active grants, request bots."""
    document, problems = _document(source, IDENTITIES_FILE, "identities")
    found.extend(problems)
    if document is None:
        return None, {}, (), None, ()
    people: dict[str, Person] = {}
    seen: dict[str, str] = {}
    for login, accounts in document.data["people"].items():
        folded = login.casefold()
        if folded in seen:
            # Logins are case-insensitive on every VCS: two entries would be one person twice.
            found.append(Finding(
                document.location(("people", login)), "duplicate-person",
                f"{login!r} is the same login as {seen[folded]!r} (logins ignore case): keep one",
            ))
            continue
        seen[folded] = login
        people[folded] = Person(login, dict(accounts), document.location(("people", login)))
    teams = {
        name.casefold(): frozenset(m.casefold() for m in members)
        for name, members in (document.data.get("teams") or {}).items()
    }
    admins = tuple(document.data.get("admins") or ())
    limit = (document.data.get("limits") or {}).get("max_active_grants")
    bots = tuple(str(b) for b in document.data.get("request_bots") or ())
    return people, teams, admins, None if limit is None else int(limit), bots


def _load_entitlements(
    source: FileSource,
    providers: Mapping[str, ProviderInstance] | None,
    found: list[Finding],
    schedules: Mapping[str, Schedule] | None = None,
) -> dict[str, Entitlement]:
    from accessctl.providers import load_module

    entitlements: dict[str, Entitlement] = {}
    for pure, document in _documents_in(source, ENTITLEMENTS_DIR, "entitlement", found):
        data = document.data
        name = data["name"]
        if name != pure.stem:
            found.append(Finding(document.location(("name",)), "entitlement-name",
                                 f"name {name!r} must equal the file name {pure.stem!r}"))
            continue
        if name in entitlements:
            found.append(Finding(document.location(("name",)), "duplicate-entitlement",
                                 f"entitlement {name!r} is defined twice"))
            continue
        target = dict(data["target"])
        kind = target.pop("kind")
        if providers is not None:
            instance = providers.get(data["provider"])
            if instance is None:
                found.append(Finding(
                    document.location(("provider",)), "unknown-provider",
                    f"provider {data['provider']!r} is not in {PROVIDERS_FILE} "
                    f"(known: {', '.join(sorted(providers)) or 'none'})",
                ))
                continue
            module = load_module(instance.platform)
            if kind not in module.TARGET_SCHEMAS:
                found.append(Finding(
                    document.location(("target", "kind")), "unknown-target-kind",
                    f"{instance.platform} has no target kind {kind!r} "
                    f"(known: {', '.join(sorted(module.TARGET_SCHEMAS))})",
                ))
                continue
            errors = list(schemas.validator_for(module.TARGET_SCHEMAS[kind]).iter_errors(target))
            if errors:
                found.extend(schema_findings(document, errors, "schema-target", ("target",)))
                continue
        pattern = data.get("ticket_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                found.append(Finding(document.location(("ticket_pattern",)), "bad-pattern",
                                     f"ticket_pattern is not a regular expression: {error}"))
                continue
        try:
            max_duration = parse_duration(data["max_duration"])
        except ValueError as error:
            found.append(Finding(document.location(("max_duration",)), "bad-duration", str(error)))
            continue
        if max_duration <= timedelta(0):
            found.append(Finding(document.location(("max_duration",)), "bad-duration",
                                 "max_duration must be longer than zero"))
            continue
        groups = tuple(tuple(g) for g in data.get("approvers_all_of") or ())
        approvers = {a.casefold() for a in data["approvers"]}
        outside = sorted({n for g in groups for n in g if n.casefold() not in approvers})
        if outside:
            # Only the approvers become code owners; anyone else could never approve.
            found.append(Finding(
                document.location(("approvers_all_of",)), "approver-group",
                f"approvers_all_of names {', '.join(outside)}, not in approvers: add them there"))
            continue
        controls = _controls(document, max_duration, schedules or {}, found)
        if controls is None:
            continue
        entitlements[name] = Entitlement(
            name=name,
            description=data.get("description", ""),
            provider=data["provider"],
            target_kind=kind,
            target_params=target,
            eligible=tuple(data["eligible"]),
            approvers=tuple(data["approvers"]),
            approvals=int(data.get("approvals", 1)),
            max_duration=max_duration,
            require_reason=bool(data.get("require_reason", True)),
            require_ticket=bool(data.get("require_ticket", False)),
            ticket_pattern=pattern,
            exclusive=bool(data.get("exclusive", False)),
            native_expiry=False,
            location=document.location(),
            approvers_all_of=groups,
            conflicts_with=tuple(data.get("conflicts_with") or ()),
            auto_approve=controls[0],
            break_glass=controls[1],
        )
    for entitlement in entitlements.values():
        # A misspelt name would silently switch separation of duties off.
        for other in entitlement.conflicts_with:
            if other not in entitlements or other == entitlement.name:
                found.append(Finding(
                    entitlement.location, "unknown-conflict",
                    f"{entitlement.name}: conflicts_with names {other!r}, which is "
                    f"{'itself' if other == entitlement.name else 'not an entitlement'}"))
    return entitlements


def _controls(
    document: Document, max_duration: timedelta, schedules: Mapping[str, Schedule],
    found: list[Finding],
) -> tuple[tuple[AutoApproveRule, ...], BreakGlass | None] | None:
    """auto_approve and break_glass of one entitlement (None: reported, entitlement left out,
    so a broken control never grants on a looser reading)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    data = document.data
    rules: list[AutoApproveRule] = []
    names: set[str] = set()
    for index, raw in enumerate(data.get("auto_approve") or ()):
        where = ("auto_approve", index)
        if raw["name"] in names:
            found.append(Finding(document.location((*where, "name")), "duplicate-rule",
                                 f"auto_approve has two rules named {raw['name']!r}"))
            return None
        names.add(raw["name"])
        try:
            window = parse_duration(raw["max_duration"])
        except ValueError as error:
            found.append(Finding(document.location((*where, "max_duration")), "bad-duration",
                                 str(error)))
            return None
        if window <= timedelta(0):
            found.append(Finding(document.location((*where, "max_duration")), "bad-duration",
                                 "an auto-approval rule's max_duration must be longer than zero"))
            return None
        schedule = raw.get("requester_on_call")
        pagerduty = None
        if isinstance(schedule, dict):
            spec = schedule["pagerduty"]
            pagerduty = PagerDutyOnCall(tuple(spec.get("schedule_ids") or ()),
                                        tuple(spec.get("escalation_policy_ids") or ()))
            schedule = None
            if not pagerduty.schedule_ids and not pagerduty.escalation_policy_ids:
                found.append(Finding(
                    document.location((*where, "requester_on_call", "pagerduty")),
                    "pagerduty-on-call",
                    "requester_on_call.pagerduty needs schedule_ids or escalation_policy_ids "
                    "(a rule that names no on-call would approve nobody)"))
                return None
        if schedule is not None and schedule not in schedules:
            # A misspelt schedule would make the rule approve nobody, silently.
            found.append(Finding(
                document.location((*where, "requester_on_call")), "unknown-schedule",
                f"schedule {schedule!r} is not in {SCHEDULES_DIR}/ (known: "
                f"{', '.join(sorted(schedules)) or 'none'}): add "
                f"{SCHEDULES_DIR}/{schedule}.yaml or fix the name"))
            return None
        hours = None
        if "business_hours" in raw:
            spec = raw["business_hours"]
            try:
                ZoneInfo(spec["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                found.append(Finding(
                    document.location((*where, "business_hours", "timezone")), "bad-timezone",
                    f"{spec['timezone']!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"))
                return None
            start, end = _clock(spec["start"]), _clock(spec["end"])
            if end <= start:
                found.append(Finding(
                    document.location((*where, "business_hours", "end")), "hours-order",
                    "business_hours end must be after start (hours across midnight: use two "
                    "rules)"))
                return None
            days = frozenset(_DAYS.index(d) + 1 for d in spec["days"])
            hours = BusinessHours(days, start, end, spec["timezone"])
        rules.append(AutoApproveRule(raw["name"], window, document.location(where),
                                     schedule, hours, pagerduty))
    glass = None
    if "break_glass" in data:
        raw = data["break_glass"]
        try:
            short, within = parse_duration(raw["max_duration"]), parse_duration(
                raw["review_within"])
        except ValueError as error:
            found.append(Finding(document.location(("break_glass",)), "bad-duration",
                                 f"break_glass: {error}"))
            return None
        if not timedelta(0) < short <= max_duration or within <= timedelta(0):
            found.append(Finding(
                document.location(("break_glass",)), "break-glass-window",
                "break_glass.max_duration must be longer than zero and at most the "
                "entitlement's max_duration, and review_within longer than zero"))
            return None
        glass = BreakGlass(short, within)
    return tuple(rules), glass


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(text: str) -> time:
    """HH:MM (the schema checked the form); 24:00 is the end of the day."""
    hour, minute = (int(part) for part in text.split(":"))
    return time.max if hour == 24 else time(hour, minute)


def load_request(source: FileSource, path: str) -> tuple[Request | None, list[Finding]]:
    """One request file. Path rules first: a file must sit at access-requests/<entitlement>/."""
    if not _REQUEST_PATH.fullmatch(path):
        return None, [Finding(Location(path), "request-path", _path_problem(path))]
    document, problems = _document(source, path, "access-request")
    if document is None:
        return None, problems
    data = document.data
    found: list[Finding] = []
    times: dict[str, Any] = {}
    for key in ("starts_at", "expires_at"):
        if key in data:
            try:
                times[key] = parse_timestamp(data[key])
            except ValueError as error:
                found.append(Finding(document.location((key,)), "bad-time", f"{key}: {error}"))
    if found:
        return None, found
    # document.location((key,)).line, read straight from the marks (five per file add up).
    marks = document.marks
    first = marks.get((), (1, 1))
    lines = {key: marks.get((key,), first)[0] for key in data}
    return Request(
        path=path,
        requester=data["requester"],
        entitlement=data["entitlement"],
        reason=data.get("reason", "").strip(),
        ticket=data.get("ticket"),
        starts_at=times.get("starts_at"),
        expires_at=times["expires_at"],
        location=document.location(),
        lines=lines,
    ), []


def _path_problem(path: str) -> str:
    """Why `path` is not a request file's path, and what to do (the name shown with its control
    characters escaped: the message reaches consoles, logs and comments)."""
    parts, suffix = _parts_and_suffix(path)
    where = f"{REQUESTS_DIR}/<entitlement>/<requester>-<slug>.yaml"
    if len(parts) != 3 or parts[0] != REQUESTS_DIR:
        return f"a request must be a file {where}: move it there"
    directory, name = parts[1], parts[2]
    if escape(path) != path:
        bad = name if escape(name) != name else directory
        return (f"{escape(bad)} has control characters in its name (shown escaped): rename it "
                f"to {where}")
    if name.startswith(".") or directory.startswith("."):
        hidden = name if name.startswith(".") else directory
        return (f"{hidden} is hidden, and hidden files are never granted: rename it to {where} "
                "or delete it")
    stem = name[:len(name) - len(suffix)]
    if suffix not in YAML_SUFFIXES or not _REQUEST_FILE.fullmatch(stem):
        return (f"{name}: a request file is named <requester>-<slug>.yaml, with letters, "
                "digits, '.', '_' and '-' only, starting with a letter or digit: rename it")
    if not _REQUEST_DIRECTORY.fullmatch(directory):
        return (f"{directory}: the directory is the entitlement's name, with lower-case "
                f"letters, digits, '.', '_' and '-' only: move the file to {where}")
    return f"a request must be a file {where}"


def _parts_and_suffix(path: str) -> tuple[tuple[str, ...], str]:
    """PurePosixPath(path).parts and .suffix, by string operations for plain paths (one Path
    object per request is measurable at 10,000 requests)."""
    parts = tuple(path.split("/"))
    if "" in parts or "." in parts:  # '//', './', a leading or trailing '/': let pathlib decide
        pure = PurePosixPath(path)
        return pure.parts, pure.suffix
    name = parts[-1]
    dot = name.rfind(".")
    return parts, name[dot:] if 0 < dot < len(name) - 1 else ""


def request_paths(source: FileSource) -> list[str]:
    """Every file under access-requests/, hidden ones too: each is a request or a finding (a
    file the engine skipped without a word would look approved to whoever reads the tree)."""
    return source.list(REQUESTS_DIR)


def load_repository(source: FileSource, only: Iterable[str] | None = None) -> Loaded:
    """Policies and requests (all of them, or only the given paths), with every finding."""
    policies, found = load_policies(source)
    requests: list[Request] = []
    paths = request_paths(source) if only is None else sorted(set(only))
    for path in paths:
        request, problems = load_request(source, path)
        found.extend(problems)
        if request is not None:
            requests.append(request)
    if isinstance(source, TreeSource):
        found.extend(source.refused)
    return Loaded(policies, requests, found)
