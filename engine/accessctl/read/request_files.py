"""Request files (access-requests/<entitlement>/<requester>-<slug>.yaml): where one may sit, what
to say of a file anywhere else, and one file read into a `Request`."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from accessctl.core.console import escape
from accessctl.core.model import Finding, Location, Request
from accessctl.core.timestamps import parse_timestamp
from accessctl.read.documents import read_document
from accessctl.read.paths import REQUESTS_DIR, YAML_SUFFIXES
from accessctl.read.sources import FileSource

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


def load_request(source: FileSource, path: str) -> tuple[Request | None, list[Finding]]:
    """One request file. Path rules first: a file must sit at access-requests/<entitlement>/."""
    if not _REQUEST_PATH.fullmatch(path):
        return None, [Finding(Location(path), "request-path", _path_problem(path))]
    document, problems = read_document(source, path, "access-request")
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
