"""CODEOWNERS: write it from the policies, and read it the way GitHub or GitLab does. Pure.

The code owners' review is the approval, so the file must say exactly what the policies say:
`generate` derives it, and `CodeOwners` answers "who owns this path" with the platform's own
rules, so that the engine judges an approval against the same owners the platform asked.

GitHub (docs: "About code owners"): gitignore-style patterns, the last matching line wins, a
pattern without owners leaves its paths without owners, and `!`, `[ ]` and `\\#` do not work, so
lines using them are reported in `errors` and skipped, as GitHub skips invalid lines.

GitLab (docs: "Code Owners syntax"): the same file plus `[Section]`, `[Section][N]` (N approvals),
`^[Optional]` and default owners on the section line; a pattern without a leading `/` matches at
any depth (`/**/` is put in front of it) and a trailing `/` means everything below. Each section
(and the lines before the first one) is judged on its own: the last match in each section counts.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from codeowners import path_to_regex

from accessctl.core.model import Policies

COMMAND = "accessctl codeowners --write"
ADMIN_PATHS = (
    "/policies/", "/schemas/", "/engine/", "/emulators/", "/.github/", "/.gitlab/",
    "/.gitlab-ci.yml", "/CODEOWNERS", "/docs/CODEOWNERS", "/pyproject.toml", "/Makefile",
    "/.ci/",
)
"""What only admins may change: the rules themselves, the code that enforces them, and CI."""

LOCATIONS: dict[str, tuple[str, ...]] = {
    # GitHub docs ("About code owners"): .github/, then the root, then docs/; the first found.
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    # GitLab (Gitlab::CodeOwners::FILE_PATHS): the root, then docs/, then .gitlab/.
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
}
"""Where each platform looks for CODEOWNERS, in its order: it uses the first file that exists,
so a file earlier in the list silently overrides the one the engine writes."""

_TOKEN = re.compile(r"(?:\\.|[^\s\\])+")
_SECTION = re.compile(r"^(\^)?\[([^\[\]]*)\](?:\[([^\[\]]*)\])?(.*)$")
_USER_OR_TEAM = re.compile(r"^@[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?$")
_GITLAB_GROUP = re.compile(r"^@[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Rule:
    """One pattern line, with the section it sits in (GitLab) and that section's settings."""

    pattern: str
    owners: tuple[str, ...]
    line: int
    section: str | None = None
    optional: bool = False
    approvals: int = 1
    gitlab: bool = False

    def matches(self, path: str) -> bool:
        relative = path.lstrip("/")
        if self.gitlab:
            return _gitlab_regex(self.pattern).match("/" + relative) is not None
        return _github_regex(self.pattern).search(relative) is not None


@dataclass(frozen=True)
class LineError:
    """A line the platform would not use, as its CODEOWNERS errors view reports it."""

    line: int
    kind: str
    message: str
    source: str


@dataclass(frozen=True)
class SectionMatch:
    """The owners one section gives a path: name None for GitHub and for GitLab's unsectioned
    lines; `approvals` is how many of these owners must approve unless `optional`."""

    name: str | None
    owners: tuple[str, ...]
    optional: bool = False
    approvals: int = 1


@dataclass(frozen=True)
class _Header:
    name: str
    optional: bool
    approvals: int
    defaults: tuple[str, ...]


@dataclass(frozen=True)
class CodeOwners:
    rules: tuple[Rule, ...]
    errors: tuple[LineError, ...] = ()
    gitlab: bool = False

    @classmethod
    def parse(cls, text: str, *, gitlab: bool = False) -> CodeOwners:
        rules: list[Rule] = []
        errors: list[LineError] = []
        header: _Header | None = None
        # GitLab combines sections whose names differ only in case: the first heading names it.
        headers: dict[str, _Header] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if gitlab and (line.startswith("[") or line.startswith("^[")):
                parsed = _parse_header(line, number, errors)
                if parsed is not None:
                    first = headers.setdefault(parsed.name.casefold(), parsed)
                    header = _Header(first.name, first.optional, first.approvals,
                                     parsed.defaults)
                continue
            rule = _parse_rule(line, number, header, gitlab, errors)
            if rule is not None:
                rules.append(rule)
        return cls(tuple(rules), tuple(errors), gitlab)

    def last_match(self, path: str) -> Rule | None:
        """The line that decides a path on GitHub: the last one whose pattern matches."""
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule
        return None

    def sections_for(self, path: str) -> list[SectionMatch]:
        """Every section with a line matching `path`, each with its own last match, in file
        order. A GitHub file is one unnamed section."""
        if not self.gitlab:
            rule = self.last_match(path)
            return [] if rule is None else [SectionMatch(None, rule.owners)]
        decided: dict[str | None, Rule] = {}
        for rule in self.rules:
            key = None if rule.section is None else rule.section.casefold()
            if key not in decided:
                decided[key] = rule  # holds the section's place in file order
            if rule.matches(path):
                decided[key] = rule
        return [SectionMatch(r.section, r.owners, r.optional, r.approvals)
                for r in decided.values() if r.matches(path)]

    def owners(self, path: str) -> tuple[str, ...]:
        """Who owns `path`: GitHub's last match; on GitLab, every matching section's owners."""
        seen: dict[str, None] = {}
        for section in self.sections_for(path):
            seen.update(dict.fromkeys(section.owners))
        return tuple(seen)


def _parse_header(line: str, number: int, errors: list[LineError]) -> _Header | None:
    match = _SECTION.match(line)
    name = match.group(2).strip() if match else ""
    if match is None or not name:
        errors.append(LineError(number, "invalid_section", "a section heading needs a name in "
                                "square brackets, like [Name], [Name][2] or ^[Name]", line))
        return None
    count = match.group(3)
    if count is not None and not count.strip().isdigit():
        errors.append(LineError(number, "invalid_section",
                                f"the approval count [{count}] is not a number", line))
        return None
    tokens = _TOKEN.findall(match.group(4))
    defaults = _owners(tokens, number, line, True, errors)
    if defaults is None:
        return None
    # GitLab treats a count below one as one.
    approvals = max(1, int(count)) if count is not None else 1
    return _Header(name, match.group(1) is not None, approvals, defaults)


def _parse_rule(line: str, number: int, header: _Header | None, gitlab: bool,
                errors: list[LineError]) -> Rule | None:
    pattern, *rest = _TOKEN.findall(line)
    problem = _pattern_problem(pattern, gitlab)
    if problem is not None:
        kind, message = problem
        errors.append(LineError(number, kind, message, line))
        return None
    owners = _owners(rest, number, line, gitlab, errors)
    if owners is None:
        return None
    if gitlab and not owners and header is not None:
        owners = header.defaults
    if header is None:
        return Rule(pattern, owners, number, gitlab=gitlab)
    return Rule(pattern, owners, number, header.name, header.optional, header.approvals, gitlab)


def _pattern_problem(pattern: str, gitlab: bool) -> tuple[str, str] | None:
    if pattern.startswith("!"):
        return "unsupported_negation", "negating a pattern with ! is not supported"
    if re.search(r"(?<!\\)[\[\]]", pattern):
        return "unsupported_range", "character ranges with [ ] are not supported"
    if pattern.startswith("\\#") and not gitlab:
        return ("unsupported_escape",
                "GitHub does not support escaping a leading # with \\: the line is not used")
    if not pattern.strip("/"):
        return "invalid_pattern", f"the pattern {pattern!r} names no path"
    return None


def _owners(tokens: list[str], number: int, line: str, gitlab: bool,
            errors: list[LineError]) -> tuple[str, ...] | None:
    owners: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            break  # an inline comment runs to the end of the line
        team = _GITLAB_GROUP if gitlab else _USER_OR_TEAM
        if not (team.match(token) or _EMAIL.match(token)):
            errors.append(LineError(number, "invalid_owner", f"{token!r} is not a @user, an "
                                    "@org/team or an email address", line))
            return None
        owners.append(token)
    return tuple(owners)


@functools.lru_cache(maxsize=1024)
def _github_regex(pattern: str) -> re.Pattern[str]:
    return path_to_regex(pattern)


@functools.lru_cache(maxsize=1024)
def _gitlab_regex(pattern: str) -> re.Pattern[str]:
    """GitLab matches `/` + path with fnmatch (PATHNAME and DOTMATCH) after putting `/**/` in
    front of relative patterns and `**/*` after directory ones."""
    if pattern == "*":
        pattern = "/**/*"
    if not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        if pattern.startswith("**/", i) and pattern[i - 1] == "/":
            regex += "(?:.*/)?"  # any number of whole directories, none included
            i += 3
            continue
        if ch == "*":
            regex += "[^/]*"
            while i + 1 < len(pattern) and pattern[i + 1] == "*":
                i += 1
        elif ch == "?":
            regex += "[^/]"
        else:
            regex += re.escape(ch)
        i += 1
    return re.compile(r"\A" + regex + r"\Z")


def handle(name: str) -> str:
    """An approver as CODEOWNERS names it: a login gets its @, a team keeps its own."""
    return name if name.startswith("@") else f"@{name}"


def _owner_list(names: tuple[str, ...], what: str) -> str:
    handles = [handle(n) for n in names]
    for name in handles:
        if not _USER_OR_TEAM.match(name):
            raise ValueError(f"{what}: {name!r} is not a login or an @org/team")
    return " ".join(handles)


def generate(policies: Policies) -> str:
    """The CODEOWNERS file for these policies, byte for byte the same for the same policies.

    Admins own everything first (the `*` line), then the protected paths again by name, and each
    entitlement's request directory last: the last match wins, so within access-requests/<name>/
    the entitlement's approvers, and only they, are the owners.
    """
    if not policies.admins:
        raise ValueError("policies/identities.yaml names no admins: CODEOWNERS would leave "
                         "policies/ and the engine without owners")
    for name in policies.entitlements:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"entitlement name {name!r} cannot be written as a CODEOWNERS path")
    admins = _owner_list(policies.admins, "admins in policies/identities.yaml")
    requests = [(f"/access-requests/{name}/",
                 _owner_list(policies.entitlements[name].approvers, f"approvers of {name}"))
                for name in sorted(policies.entitlements)]
    lines = [
        f"# Generated from policies/ by `{COMMAND}`: do not edit by hand,",
        f"# change the policies and run `{COMMAND}` again.",
        "# The last matching line wins.",
        "",
        "# Anything not listed below needs an admin.",
        f"* {admins}",
        "",
        "# The policies, the engine and CI: admins only.",
        *(f"{path} {admins}" for path in ADMIN_PATHS),
    ]
    if requests:
        lines += ["", "# Requests for each entitlement: its approvers only."]
        # One space, no column alignment: a new entitlement adds one line to the diff.
        lines += [f"{path} {owners}" for path, owners in requests]
    return "\n".join(lines) + "\n"
