"""The locks of the engine's GitHub Action (action.yml at the engine repository's root).

The action runs the engine from its own repository at the commit a workflow pins, so the engine
needs no wheel there; its dependencies come from one of these locks, every package pinned with
its hashes. One lock per platform keeps each job to its own platform's SDK: `<platform>.txt`
holds the base requirements, that platform's extra and the extras every job may need (both
VCSs and PagerDuty); `base.txt` holds those alone (validate, and the github and gitlab
platforms). They are compiled from pyproject.toml by uv, so Dependabot and Renovate can update
them like any pip-compile output. Pure: names in, names out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from accessctl.scaffold import requirements

DIRECTORY = "action/locks"
SHARED = ("github", "gitlab", "pagerduty")
PLATFORMS = ("aws", "gcp", "entra", "okta", "ad")
"""The platforms with a lock of their own; github and gitlab are in every lock."""


def locks() -> dict[str, tuple[str, ...]]:
    """lock path -> the extras it is compiled with."""
    found: dict[str, tuple[str, ...]] = {f"{DIRECTORY}/base.txt": SHARED}
    found.update({f"{DIRECTORY}/{p}.txt": (p, *SHARED) for p in PLATFORMS})
    return found


def compile_arguments(path: str, extras: Iterable[str]) -> list[str]:
    """uv's arguments for one lock, run at the repository's root (the lock's header repeats
    them, and Renovate runs them again to refresh it)."""
    arguments = ["pip", "compile", "--quiet", "--generate-hashes", "--universal",
                 "--python-version", requirements.PYTHON]
    for extra in extras:
        arguments += ["--extra", extra]
    return [*arguments, "--output-file", path, "pyproject.toml"]


def declared(pyproject: Mapping[str, object]) -> dict[str, set[str]]:
    """extra -> the distributions pyproject.toml's [project] gives it ("" for the base)."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        return {}
    found = {"": {_name(r) for r in project.get("dependencies", [])}}
    for extra, items in (project.get("optional-dependencies") or {}).items():
        found[requirements.normalize(extra)] = {_name(r) for r in items}
    return {extra: {n for n in names if n and n != "accessctl"}
            for extra, names in found.items()}


def _name(requirement: object) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", str(requirement))
    return requirements.normalize(match[1]) if match else ""


def problems(path: str, text: str | None, extras: Iterable[str],
             provides: Mapping[str, set[str]]) -> list[str]:
    """What keeps one of the action's locks from installing what its platform needs."""
    again = f"run '{requirements.COMMAND}' in the engine's repository and commit the result"
    if text is None:
        return [f"{path}: missing: {again}"]
    entries = requirements.parse_lock(text)
    found = [f"{path}: line {e.line}: {e.name} is not pinned with == and --hash=: {again}"
             for e in entries if e.version is None or not e.hashes]
    if not entries:
        found.append(f"{path}: pins nothing: {again}")
    if any(e.name == "accessctl" for e in entries):
        found.append(f"{path}: pins accessctl itself, which the action runs from its own "
                     f"commit: {again}")
    names = {e.name for e in entries}
    for extra in ("", *extras):
        absent = sorted(provides.get(extra, set()) - names)
        if absent:
            found.append(f"{path}: has no {', '.join(absent)} "
                         f"({'the ' + extra + ' extra' if extra else 'accessctl'} needs "
                         f"{'them' if len(absent) > 1 else 'it'}): {again}")
    return found
