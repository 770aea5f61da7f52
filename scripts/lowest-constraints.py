"""Pin the project's own dependencies to the versions a lowest resolution installed.

    uv pip freeze | python scripts/lowest-constraints.py > constraints.txt

`make test-lowest` installs the dependencies in pyproject.toml at the lowest versions their
bounds allow (`uv pip install --resolution lowest-direct`), then the test tools at their newest:
this file keeps the second install from moving the first one's versions. Only the packages
pyproject.toml names (outside the test and demo tool groups) are pinned; what they pull in is
left to the resolver.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

TOOLING = {"dev", "demo"}
"""Groups of test and demo tools: installed at their newest, as they are not what is tested."""

_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_dependencies(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", ()))
    for group, listed in project.get("optional-dependencies", {}).items():
        if group not in TOOLING:
            requirements.extend(listed)
    names = {_key(m.group(1)) for r in requirements if (m := _NAME.match(r))}
    names.discard(_key(project["name"]))
    return names


def main() -> int:
    wanted = project_dependencies(Path(__file__).resolve().parents[1] / "pyproject.toml")
    for line in sys.stdin:
        name, sep, version = line.strip().partition("==")
        if sep and _key(name) in wanted:
            sys.stdout.write(f"{name}=={version}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
