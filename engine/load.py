"""Read a repository (or a commit's files) into the model, collecting every finding on the way.

The only module that turns files into model objects. It reads through a `FileSource` so that the
same code reads a working tree, a commit on the VCS, or files in memory in tests.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from engine import schemas
from engine.durations import parse_duration
from engine.model import (
    Entitlement,
    Finding,
    Location,
    Person,
    Policies,
    ProviderInstance,
    Request,
)
from engine.schema_errors import findings as schema_findings
from engine.timestamps import parse_timestamp
from engine.yamlfile import (
    POLICY_MAX_FILE_BYTES,
    POLICY_MAX_NODES,
    Document,
    expect_mapping,
    parse,
)

REQUESTS_DIR = "access-requests"
ENTITLEMENTS_DIR = "policies/entitlements"
IDENTITIES_FILE = "policies/identities.yaml"
PROVIDERS_FILE = "policies/providers.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
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
            while chunk := os.read(handle, max(status.st_size + 1, 4096)):
                chunks.append(chunk)
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
    people, teams, admins, limit = _load_identities(source, found)
    entitlements = _load_entitlements(source, providers, found)
    if providers is None or people is None:
        return None, found
    return Policies(entitlements, people, teams, providers, admins, limit), found


def _load_providers(source: FileSource, found: list[Finding]) -> dict[str, ProviderInstance] | None:
    from engine.providers import load_module

    document, problems = _document(source, PROVIDERS_FILE, "providers")
    found.extend(problems)
    if document is None:
        return None
    instances: dict[str, ProviderInstance] = {}
    for name, raw in document.data["providers"].items():
        settings = {k: v for k, v in raw.items() if k != "platform"}
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
            name, platform, settings, document.location(("providers", name))
        )
    return instances


def _load_identities(
    source: FileSource, found: list[Finding]
) -> tuple[dict[str, Person] | None, dict[str, frozenset[str]], tuple[str, ...], int | None]:
    document, problems = _document(source, IDENTITIES_FILE, "identities")
    found.extend(problems)
    if document is None:
        return None, {}, (), None
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
    return people, teams, admins, None if limit is None else int(limit)


def _load_entitlements(
    source: FileSource,
    providers: Mapping[str, ProviderInstance] | None,
    found: list[Finding],
) -> dict[str, Entitlement]:
    from engine.providers import load_module

    entitlements: dict[str, Entitlement] = {}
    for path in source.list(ENTITLEMENTS_DIR):
        pure = PurePosixPath(path)
        if pure.suffix not in YAML_SUFFIXES or pure.parent.as_posix() != ENTITLEMENTS_DIR:
            found.append(Finding(Location(path), "stray-file",
                                 f"only <name>.yaml files belong in {ENTITLEMENTS_DIR}/"))
            continue
        document, problems = _document(source, path, "entitlement")
        found.extend(problems)
        if document is None:
            continue
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


def load_request(source: FileSource, path: str) -> tuple[Request | None, list[Finding]]:
    """One request file. Path rules first: a file must sit at access-requests/<entitlement>/."""
    parts, suffix = _parts_and_suffix(path)
    if (
        len(parts) != 3
        or parts[0] != REQUESTS_DIR
        or suffix not in YAML_SUFFIXES
        or not all(_SAFE_SEGMENT.match(p) for p in parts[1:])
    ):
        return None, [Finding(
            Location(path), "request-path",
            f"a request must be a file {REQUESTS_DIR}/<entitlement>/<requester>-<slug>.yaml "
            "(letters, digits, '.', '_' and '-' only)",
        )]
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
    lines = {key: document.location((key,)).line for key in data}
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
    return [p for p in source.list(REQUESTS_DIR) if not p.rpartition("/")[2].startswith(".")]


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
