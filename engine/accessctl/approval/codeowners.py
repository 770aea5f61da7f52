"""CODEOWNERS: write it from the policies, and read it the way GitHub or GitLab does. Pure.

The code owners' review is the approval, so the file must say exactly what the policies say:
`generate` derives it, and `CodeOwners` answers "who owns this path" with the platform's own
rules, so that the engine judges an approval against the same owners the platform asked.

GitHub (docs: "About code owners"): gitignore-style patterns, the last matching line wins, a
pattern without owners leaves its paths without owners, and `!`, `[ ]` and `\\#` do not work, so
lines using them are reported in `errors` and skipped, as GitHub skips invalid lines.

GitLab (docs: "Syntax of CODEOWNERS file", "Advanced CODEOWNERS configuration"; the parser is
Gitlab::CodeOwners::File): `[Section]`, `[Section][N]` (N approvals, at least one), `^[Optional]`
and default owners on the heading line; sections whose names differ only in case are one. The
lines before the first heading are a section too, without a name, and always required. A path
gets, from each section, the owners of that section's last matching line; a section in which an
exclusion (`!pattern`) matches the path asks nothing of it. Patterns are fnmatch globs (with
character classes `[a-z]`, `[!a]`) on `/` + the path: a pattern without a leading `/` matches at
any depth (`/**/` is put in front), a trailing `/` means everything below. Owners are @users,
@groups and @group/subgroups, email addresses, and roles `@@developer`, `@@maintainer`,
`@@owner` (plural too): the project's direct members with exactly that role. Anything else on
an owner list is ignored, as GitLab ignores it (and reported in `errors`).

What the engine cannot read on GitLab (a heading it cannot parse, a pattern it cannot
translate, such as a lone backslash or an unclosed `[`) is never skipped: skipping could drop a
section or a rule, and so ask fewer approvals than GitLab does. Such a line `blocks`: every
path is refused until the file is fixed (`unreadable_for`), since the line could cover any.
"""

from __future__ import annotations

import dataclasses
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
_GITLAB_ROLE = re.compile(r"^@@(developer|maintainer|owner)s?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GITLAB_SPLIT = re.compile(r"(?<!\\)\s+")
"""GitLab splits a line at its first whitespace not escaped by a backslash."""

ROLE_PREFIX = "@@"
"""An owner naming a role (GitLab): `@@developer`, `@@maintainer` or `@@owner`."""


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
    exclusion: bool = False
    """GitLab `!pattern`: the paths it matches need nothing from its section."""

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
    blocks: bool = False
    """GitLab: the engine cannot read the line, so it cannot tell what the line would ask of
    any path; nothing is granted until it is fixed."""


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


@dataclass
class _Section:
    """A GitLab section as all its headings together make it: required unless every heading
    is optional, and as many approvals as the most any heading asks (stricter than either)."""

    name: str
    optional: bool
    approvals: int


@dataclass(frozen=True)
class CodeOwners:
    rules: tuple[Rule, ...]
    errors: tuple[LineError, ...] = ()
    gitlab: bool = False
    file: str | None = None
    """Where the file was read from (for messages), when known."""

    @classmethod
    def parse(cls, text: str, *, gitlab: bool = False, file: str | None = None) -> CodeOwners:
        rules, errors = _parse_gitlab(text) if gitlab else _parse_github(text)
        return cls(rules, errors, gitlab, file)

    def unreadable_for(self, path: str) -> list[LineError]:
        """The lines the engine cannot read that could decide who owns `path` (GitLab): while
        there is one, nothing can be approved for it. Each could match any path. (A line that
        could only take a requirement away, an exclusion or a line of an optional section, does
        not block: without it the engine asks more than GitLab, never less.)"""
        return [error for error in self.errors if error.blocks]

    def last_match(self, path: str) -> Rule | None:
        """The line that decides a path on GitHub: the last one whose pattern matches."""
        for rule in reversed(self.rules):
            if rule.matches(path):
                return rule
        return None

    def sections_for(self, path: str) -> list[SectionMatch]:
        """Every section with a line matching `path`, each with its own last match, in file
        order (the unsectioned lines first). A GitHub file is one unnamed section."""
        if not self.gitlab:
            rule = self.last_match(path)
            return [] if rule is None else [SectionMatch(None, rule.owners)]
        grouped: dict[str | None, list[Rule]] = {}
        for rule in self.rules:
            key = None if rule.section is None else rule.section.casefold()
            grouped.setdefault(key, []).append(rule)
        found = []
        for rules in grouped.values():
            matching = [r for r in rules if r.matches(path)]
            # GitLab: a path an exclusion of the section matches needs nothing from the section.
            if not matching or any(r.exclusion for r in matching):
                continue
            last = matching[-1]
            found.append(SectionMatch(last.section, last.owners, last.optional, last.approvals))
        return found

    def owners(self, path: str) -> tuple[str, ...]:
        """Who owns `path`: GitHub's last match; on GitLab, every matching section's owners."""
        seen: dict[str, None] = {}
        for section in self.sections_for(path):
            seen.update(dict.fromkeys(section.owners))
        return tuple(seen)


# -- GitHub ---------------------------------------------------------------------------------------
def _parse_github(text: str) -> tuple[tuple[Rule, ...], tuple[LineError, ...]]:
    rules: list[Rule] = []
    errors: list[LineError] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = _TOKEN.findall(line)
        if not tokens:  # a lone backslash, say: GitHub skips a line it cannot use
            errors.append(LineError(number, "invalid_pattern", "the line holds no pattern", line))
            continue
        pattern, *rest = tokens
        problem = _github_pattern_problem(pattern)
        if problem is not None:
            kind, message = problem
            errors.append(LineError(number, kind, message, line))
            continue
        owners = _github_owners(rest, number, line, errors)
        if owners is not None:
            rules.append(Rule(pattern, owners, number))
    return tuple(rules), tuple(errors)


def _github_pattern_problem(pattern: str) -> tuple[str, str] | None:
    if pattern.startswith("!"):
        return "unsupported_negation", "negating a pattern with ! is not supported"
    if re.search(r"(?<!\\)[\[\]]", pattern):
        return "unsupported_range", "character ranges with [ ] are not supported"
    if pattern.startswith("\\#"):
        return ("unsupported_escape",
                "GitHub does not support escaping a leading # with \\: the line is not used")
    if not pattern.strip("/"):
        return "invalid_pattern", f"the pattern {pattern!r} names no path"
    return None


def _github_owners(tokens: list[str], number: int, line: str,
                   errors: list[LineError]) -> tuple[str, ...] | None:
    owners: list[str] = []
    for token in tokens:
        if token.startswith("#"):
            break  # an inline comment runs to the end of the line
        if not (_USER_OR_TEAM.match(token) or _EMAIL.match(token)):
            errors.append(LineError(number, "invalid_owner", f"{token!r} is not a @user, an "
                                    "@org/team or an email address", line))
            return None
        owners.append(token)
    return tuple(owners)


@functools.lru_cache(maxsize=1024)
def _github_regex(pattern: str) -> re.Pattern[str]:
    return path_to_regex(pattern)


# -- GitLab ---------------------------------------------------------------------------------------
def _parse_gitlab(text: str) -> tuple[tuple[Rule, ...], tuple[LineError, ...]]:
    errors: list[LineError] = []
    sections: dict[str, _Section] = {}
    entries: list[tuple[int, str, tuple[str, ...], str | None, bool]] = []
    unread: list[tuple[int, str]] = []  # (index in errors, section key) of unreadable lines
    current: str | None = None  # the section key the lines below belong to (None: unnamed)
    defaults: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("[", "^[")):
            header = _gitlab_header(line, number, errors)
            if header is None:
                continue  # it blocks every path: which section follows is unknown
            key = header.name.casefold()
            known = sections.get(key)
            if known is None:
                sections[key] = _Section(header.name, header.optional, header.approvals)
            else:
                known.optional = known.optional and header.optional
                known.approvals = max(known.approvals, header.approvals)
            current, defaults = key, header.defaults
            continue
        entry = _gitlab_entry(line, number, errors)
        if entry is None:
            if current is not None and errors[-1].blocks:
                unread.append((len(errors) - 1, current))
            continue
        pattern, owners, exclusion = entry
        entries.append((number, pattern, owners if owners is not None else defaults, current,
                        exclusion))
    for index, key in unread:
        # A line of an optional section asks no approval; dropping it only drops owners.
        if sections[key].optional:
            errors[index] = dataclasses.replace(errors[index], blocks=False)
    rules = []
    for number, pattern, owners, within, exclusion in entries:
        if within is None:
            rules.append(Rule(pattern, owners, number, gitlab=True, exclusion=exclusion))
        else:
            section = sections[within]
            rules.append(Rule(pattern, owners, number, section.name, section.optional,
                              section.approvals, True, exclusion))
    return tuple(rules), tuple(errors)


def _gitlab_header(line: str, number: int, errors: list[LineError]) -> _Header | None:
    def unreadable(message: str) -> _Header | None:
        errors.append(LineError(number, "invalid_section", message, line, blocks=True))
        return None

    match = _SECTION.match(line)
    name = match.group(2).strip() if match else ""
    if match is None or not name:
        return unreadable("a section heading needs a name in square brackets, like [Name], "
                          "[Name][2] or ^[Name]")
    count, rest = match.group(3), match.group(4)
    if count is not None and not count.strip().isdigit():
        return unreadable(f"the approval count [{count}] is not a number")
    if rest and not rest[0].isspace():
        return unreadable(f"{rest.split()[0]!r} follows the heading: a heading is [Name] or "
                          "[Name][N], then its default owners")
    optional = match.group(1) is not None
    if optional and count is not None and int(count) > 0:
        return unreadable("an optional section (^) cannot require approvals: drop the ^ or "
                          f"the [{count.strip()}]")
    defaults = _gitlab_owners(rest.split(), number, line, errors)
    # GitLab treats a count below one as one.
    approvals = max(1, int(count)) if count is not None else 1
    return _Header(name, optional, approvals, defaults)


def _gitlab_entry(line: str, number: int, errors: list[LineError]
                  ) -> tuple[str, tuple[str, ...] | None, bool] | None:
    """(pattern, owners or None for the section's defaults, is an exclusion), or None when the
    pattern cannot be read (recorded as a blocking error)."""
    pattern, *tail = _GITLAB_SPLIT.split(line, maxsplit=1)
    rest = tail[0] if tail else ""
    exclusion = pattern.startswith("!")
    glob = pattern[1:] if exclusion else pattern
    try:
        _gitlab_regex(glob)
    except ValueError as error:
        # Dropping an exclusion asks more, never less: only other lines block.
        errors.append(LineError(number, "invalid_pattern", f"the pattern {pattern!r} cannot "
                                f"be read: {error}", line, blocks=not exclusion))
        return None
    if exclusion:
        return glob, (), True  # GitLab reads no owners on an exclusion
    # GitLab uses the section's default owners only where a line names none at all; a line
    # whose owners are all unusable has none, and no approval can satisfy it.
    owners = _gitlab_owners(rest.split(), number, line, errors) if rest.strip() else None
    return glob, owners, False


def _gitlab_owners(tokens: list[str], number: int, line: str,
                   errors: list[LineError]) -> tuple[str, ...]:
    """The owners GitLab reads from `tokens`; anything else it ignores (an inline comment's
    words too: GitLab has no inline comments), and so does the engine, reporting them."""
    owners: dict[str, None] = {}
    ignored = []
    for token in tokens:
        role = _GITLAB_ROLE.match(token)
        if role is not None:
            owners[ROLE_PREFIX + role.group(1).lower()] = None
        elif _GITLAB_GROUP.match(token) or _EMAIL.match(token):
            owners[token] = None
        else:
            ignored.append(token)
    if ignored:
        errors.append(LineError(number, "invalid_owner", f"{', '.join(map(repr, ignored))}: "
                                "not a @user, an @group, a @@role or an email address (GitLab "
                                "ignores it)", line))
    return tuple(owners)


def _gitlab_glob(pattern: str) -> str:
    """GitLab's normalisation of a pattern (Gitlab::CodeOwners::File#normalize_pattern)."""
    if not pattern:
        raise ValueError("it is empty")
    if pattern == "*":
        return "/**/*"
    if not pattern.startswith("/"):
        pattern = "/**/" + pattern
    if pattern.endswith("/"):
        pattern += "**/*"
    return pattern


@functools.lru_cache(maxsize=1024)
def _gitlab_regex(pattern: str) -> re.Pattern[str]:
    """GitLab matches `/` + path with Ruby's File.fnmatch (FNM_PATHNAME | FNM_DOTMATCH) after
    normalising the pattern: `*` and `?` stay within a directory, `**/` spans any number of
    whole directories (none included), `[...]` is one character of a class (never `/`), and a
    backslash makes the next character literal. ValueError: a pattern this cannot translate."""
    glob = _gitlab_glob(pattern)
    regex = ""
    i = 0
    while i < len(glob):
        ch = glob[i]
        if ch == "\\":
            if i + 1 == len(glob):
                raise ValueError("it ends with a backslash that escapes nothing")
            regex += re.escape(glob[i + 1])
            i += 2
            continue
        if glob.startswith("**/", i) and i > 0 and glob[i - 1] == "/":
            regex += "(?:.*/)?"  # any number of whole directories, none included
            i += 3
            continue
        if ch == "[":
            cls, i = _character_class(glob, i + 1)
            regex += cls
            continue
        if ch == "*":
            regex += "[^/]*"
            while i + 1 < len(glob) and glob[i + 1] == "*":
                i += 1
        elif ch == "?":
            regex += "[^/]"
        else:
            regex += re.escape(ch)
        i += 1
    return re.compile(r"\A" + regex + r"\Z")


def _character_class(glob: str, start: int) -> tuple[str, int]:
    """The class opened just before `start`, as Ruby's fnmatch reads it, and where it ends."""
    i = start
    negate = i < len(glob) and glob[i] in "!^"
    i += negate
    items = []

    def char() -> str:
        nonlocal i
        if i < len(glob) and glob[i] == "\\":
            i += 1
        if i >= len(glob):
            raise ValueError("a character class [ is not closed")
        i += 1
        return glob[i - 1]

    while True:
        if i >= len(glob):
            raise ValueError("a character class [ is not closed")
        if glob[i] == "]":
            i += 1
            break
        low = char()
        if glob.startswith("-", i) and i + 1 < len(glob) and glob[i + 1] != "]":
            i += 1
            high = char()
            if high < low:
                raise ValueError(f"the range {low}-{high} is reversed")
            items.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            items.append(re.escape(low))
    if not items:
        raise ValueError("an empty character class [] matches nothing")
    body = "".join(items)
    return (f"[^/{body}]" if negate else f"(?!/)[{body}]"), i


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
