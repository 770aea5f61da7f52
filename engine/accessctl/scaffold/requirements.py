"""The engine's pins in an access repository: requirements.in, what to install, and
requirements.txt, its lock.

requirements.in names `accessctl[<extras>]==<version>`. The extras follow policies/providers.yaml
and the VCS (`accessctl workflows --write` keeps them current); the version, and any pip option
lines (`--find-links`, `--index-url`: where the wheel comes from), are the owner's and are kept.
requirements.txt is made from it by `accessctl lock` (uv pip compile --generate-hashes): every
package pinned with `==` and its hashes, in pip-compile's format, so that Dependabot and Renovate
can update it. The jobs install it with `pip install --require-hashes --no-deps`, so nothing
outside it is ever installed next to the credentials. Pure: text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from accessctl.core.model import Policies

INPUT = "requirements.in"
LOCK = "requirements.txt"
PYTHON = "3.11"
"""The Python the generated jobs run (setup-python, the python image): the lock is made for it
and every later version (uv's --universal --python-version)."""

INSTALL = f"python -m pip install --quiet --require-hashes --no-deps -r {LOCK}"
"""The install line of every generated job: the lock, hash-checked, nothing resolved."""

COMMAND = "accessctl lock"

HEADER = f"""\
# The engine the workflows install, pinned to one version. The extras follow
# policies/providers.yaml and the VCS (`accessctl workflows --write` keeps them current); the
# version and any --find-links / --index-url lines here are yours and are kept.
#
# {LOCK} is its lock: this line and every dependency pinned with their sha256 hashes, made by
# `{COMMAND}` (uv pip compile --generate-hashes, in pip-compile's format: Dependabot and
# Renovate update it). The jobs install only that:
#   {INSTALL.replace(' --quiet', '')}
# Where the wheel comes from: PyPI, or a line such as
#   --find-links https://github.com/OWNER/accessctl/releases/expanded_assets/v1.2.3
# (a release's wheels); the hashes in {LOCK} decide which file may be installed.
"""

_PIN = re.compile(r"^\s*accessctl\s*(?:\[(?P<extras>[^\]]*)\])?\s*==\s*"
                  r"(?P<version>[0-9][0-9A-Za-z.+!-]*)\s*(?:[;#\\].*)?$", re.M)
_OPTION = re.compile(r"^\s*(?:--(?:find-links|index-url|extra-index-url|trusted-host)|-[fi])"
                     r"(?:[\s=]\S.*)$")
_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[([^\]]*)\])?\s*"
                   r"(?:==\s*([^\s;\\]+))?")


@dataclass(frozen=True)
class Pin:
    version: str
    extras: frozenset[str]


def normalize(name: str) -> str:
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _extras(text: str | None) -> frozenset[str]:
    return frozenset(normalize(e.strip()) for e in (text or "").split(",") if e.strip())


def pin(text: str) -> Pin | None:
    """The `accessctl[...]==VERSION` line of requirements.in (or of an older requirements.txt
    that held only that line)."""
    match = _PIN.search(text)
    return Pin(match["version"], _extras(match["extras"])) if match else None


def is_lock(text: str) -> bool:
    """A requirements file with hashes: a lock, not a pin to compile."""
    return "--hash=" in text


def options(text: str) -> list[str]:
    """The pip option lines of requirements.in (where the wheel comes from), to keep."""
    return [line.strip() for line in text.splitlines() if _OPTION.match(line)]


def render_input(extras: Iterable[str], version: str, kept: Sequence[str] = ()) -> str:
    lines = "".join(f"{line}\n" for line in kept)
    return HEADER + lines + f"accessctl[{','.join(sorted(set(extras)))}]=={version}\n"


@dataclass(frozen=True)
class Locked:
    """One requirement of a lock: its name, `==` version (None: not pinned), extras, hashes."""

    name: str
    version: str | None
    extras: frozenset[str]
    hashes: int
    line: int


def parse_lock(text: str) -> list[Locked]:
    """The requirements of a pip requirements file, continuation lines joined; comments and
    option lines (`--find-links` ...) skipped."""
    found: list[Locked] = []
    logical, first = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not logical:
            first = number
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        entry = logical.strip()
        logical = ""
        if not entry or entry.startswith("-"):
            continue
        match = _NAME.match(entry)
        if match is None:
            continue
        found.append(Locked(normalize(match[1]), match[3], _extras(match[2]),
                            entry.count("--hash="), first))
    return found


def extra_requirements(requires: Iterable[str]) -> dict[str, set[str]]:
    """extra -> the distributions it adds, from the engine's metadata (Requires-Dist lines such
    as `boto3>=1.34; extra == "aws"`); "" holds the base requirements."""
    found: dict[str, set[str]] = {}
    for requirement in requires:
        name = _NAME.match(requirement.strip())
        if name is None or normalize(name[1]) == "accessctl":
            continue
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        found.setdefault(normalize(extra[1]) if extra else "", set()).add(normalize(name[1]))
    return found


def lock_problems(lock: str | None, want: Pin,
                  provides: Mapping[str, set[str]] | None = None) -> list[str]:
    """What keeps the lock from installing what requirements.in asks for, each a sentence
    ending in what to do; [] when it covers it. `provides` (extra -> distributions, from the
    engine's metadata at the locked version) adds a check that each extra's packages are in."""
    again = f"run '{COMMAND}' and commit the result"
    if lock is None:
        return [f"missing: {again}"]
    entries = parse_lock(lock)
    if not any(e.hashes for e in entries):
        return [f"not a lock (no --hash= on any line, so pip cannot check what it installs): "
                f"{again}"]
    problems = [f"line {e.line}: {e.name} is not pinned with == and --hash=: {again}"
                for e in entries if e.version is None or not e.hashes]
    engine = next((e for e in entries if e.name == "accessctl"), None)
    if engine is None:
        return [*problems, f"pins no accessctl: {again}"]
    if engine.version != want.version:
        problems.append(f"pins accessctl=={engine.version}, {INPUT} asks for {want.version}: "
                        f"{again}")
    missing = sorted(want.extras - engine.extras)
    if missing:
        problems.append(f"locked without the extra{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)} that policies/providers.yaml needs: {again}")
    if provides is not None:
        names = {e.name for e in entries}
        # An extra missing from the accessctl line is said once, above.
        for extra in sorted((want.extras & engine.extras) | {""}):
            absent = sorted(provides.get(extra, set()) - names)
            if absent:
                what = f"the {extra} extra" if extra else "accessctl"
                problems.append(f"has no {', '.join(absent)} ({what} needs "
                                f"{'them' if len(absent) > 1 else 'it'}): {again}")
    return problems


def extras_needed(policies: Policies, vcs: str) -> set[str]:
    """The engine's extras an access repository's jobs need: each provider instance's platform
    (the extras are named after them), the VCS, and pagerduty where an auto-approval rule asks
    PagerDuty who is on call."""
    extras = {instance.platform for instance in policies.providers.values()} | {vcs}
    if any(rule.on_call_pagerduty is not None for entitlement in policies.entitlements.values()
           for rule in entitlement.auto_approve):
        extras.add("pagerduty")
    return extras
