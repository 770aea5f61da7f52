"""The house rules of the package, checked on its import graph.

Folders follow the data flow (read -> judge -> approval -> change -> report); a folder imports
only folders below it. `core` imports nothing of ours; `read` and `judge` reach no SDK, no VCS
and no clock; only the commands, the demo and the tests use the emulators; no module-level
import cycle anywhere; no module over 500 lines. The graph is read from the source with `ast`
(every import, lazy ones included, for the folder rules; module-level ones for cycles).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "engine" / "accessctl"

LAYERS = [
    {"core", "schemas"},
    {"providers", "emulators"},
    {"read"},
    {"judge"},
    {"approval"},
    {"change"},
    {"report", "scaffold"},
    {"commands", "demo", "cli", "__main__"},
]
RANK = {name: index for index, names in enumerate(LAYERS) for name in names}
SDKS = ("boto3", "botocore", "github", "gitlab", "okta", "msgraph", "azure", "googleapiclient",
        "google.auth", "ldap3", "requests", "httpx", "kiota_abstractions")
MAX_LINES = 500


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def folder(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "accessctl" or len(parts) < 2:
        return None
    return parts[1]


def known(module: str) -> set[str]:
    names = {name for name, _ in modules()}
    return {module} & names or {module.rpartition(".")[0]} & names


def test_one_top_level_package() -> None:
    found = sorted(p.name for p in PACKAGE.parent.iterdir()
                   if p.is_dir() and (p / "__init__.py").exists())
    assert found == ["accessctl"]


def test_every_folder_has_its_place_and_imports_only_below_it() -> None:
    upward = []
    for name, path in modules():
        mine = folder(name)
        if mine is None or mine == "__init__":
            continue
        assert mine in RANK, f"{mine}/ has no place in the layers: add it to LAYERS"
        for target in imports(path):
            theirs = folder(target)
            if theirs is None or theirs == mine or theirs not in RANK:
                continue
            if RANK[theirs] > RANK[mine]:
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_core_imports_nothing_of_ours() -> None:
    for name, path in modules():
        if folder(name) != "core":
            continue
        ours = {t for t in imports(path) if t.startswith("accessctl")
                and folder(t) != "core"}
        assert ours == set(), name


def test_only_commands_demo_and_tests_use_the_emulators() -> None:
    for name, path in modules():
        if folder(name) in ("commands", "demo", "emulators"):
            continue
        assert not any(folder(t) == "emulators" for t in imports(path)), name


def test_no_import_cycle() -> None:
    graph = {name: set() for name, _ in modules()}
    for name, path in modules():
        for target in imports(path, top_level_only=True):
            for module in known(target):
                if module != name:
                    graph[name].add(module)
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("stage", ["read", "judge", "core"])
def test_pure_stages_load_no_sdk_no_vcs_and_no_emulator(stage: str) -> None:
    names = [name for name, _ in modules() if folder(name) == stage]
    code = ("import sys\n" + "".join(f"import {n}\n" for n in names) +
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True, timeout=60).stdout.split())
    leaked = {m for m in loaded if any(m == s or m.startswith(s + ".") for s in SDKS)}
    assert leaked == set()
    assert not {m for m in loaded if m.startswith(("accessctl.approval",
                                                    "accessctl.emulators"))}


def test_no_module_over_500_lines() -> None:
    """Every module of the package, the emulators included: none is exempt any more."""
    sizes = {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines())
             for _, path in modules()}
    over = sorted(f"{name} ({lines} lines)" for name, lines in sizes.items()
                  if lines > MAX_LINES)
    assert over == [], f"split by what the code does, into modules of {MAX_LINES} lines at most"


def test_judge_never_reads_the_clock() -> None:
    for name, path in modules():
        if folder(name) != "judge":
            continue
        text = path.read_text()
        for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today("):
            assert call not in text, f"{name} reads the clock ({call}): take `now` instead"


def test_the_built_distribution_holds_one_top_level_package(tmp_path: Path) -> None:
    """What `pip install .` puts into site-packages: accessctl and nothing else (no `engine`,
    no `emulators`), with the schemas and py.typed inside it."""
    import zipfile

    root = PACKAGE.parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path), str(root)],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)
    wheel = next(tmp_path.glob("accessctl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(
        (".dist-info", ".data"))}
    assert tops == {"accessctl"}
    assert "accessctl/schemas/access-request.schema.json" in names
    assert "accessctl/py.typed" in names
    assert "accessctl/emulators/github/emulator.py" in names  # subpackages ship too
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["accessctl"]
