"""A local directory of wheels, made offline: the engine built from this checkout, and its
dependencies packed again from what this test environment has installed.

That is what `--find-links` reads in the lock tests, so that uv resolves and hashes, and pip
installs with --require-hashes, without a package index: real files, real hashes, no network.
A dependency's wheel is its installed files and .dist-info (RECORD written anew), named with
the tags its own WHEEL file gives, so pip accepts it for this interpreter as it did the original.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
_SKIPPED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def build_engine(out: Path, work: Path) -> Path:
    """The engine's wheel, built from a copy of this checkout (setuptools builds in the source
    tree) with the environment's setuptools, offline."""
    source = work / "engine-source"
    shutil.copytree(ROOT / "engine", source / "engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                           "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, ("building the engine's wheel needs setuptools>=70.1 (the dev "
                                  "extra):\n" + done.stdout + done.stderr)
    (wheel,) = out.glob("accessctl-*.whl")
    return wheel


def closure(extras: set[str]) -> list[metadata.Distribution]:
    """The installed distributions accessctl[extras] needs, this interpreter's markers
    applied."""

    def wanted(requirement: Requirement, among: set[str]) -> bool:
        marker = requirement.marker
        return marker is None or any(marker.evaluate({"extra": e}) for e in among)

    found: dict[str, metadata.Distribution] = {}
    pending = [r for r in map(Requirement, metadata.requires("accessctl") or [])
               if wanted(r, {""} | extras)]
    while pending:
        requirement = pending.pop()
        key = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if key in found or key == "accessctl":
            continue
        distribution = metadata.distribution(requirement.name)
        found[key] = distribution
        pending += [r for r in map(Requirement, distribution.requires or [])
                    if wanted(r, {""} | requirement.extras)]
    return sorted(found.values(), key=lambda d: d.metadata["Name"].lower())


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode()


def repack(distribution: metadata.Distribution, out: Path) -> Path:
    """One installed distribution as a wheel again."""
    wheel_file = distribution.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_file.splitlines()
            if line.startswith("Tag:")]
    # The compressed tag set of the file name: py2.py3-none-any for py2-none-any, py3-none-any.
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    name = re.sub(r"[-_.]+", "_", distribution.metadata["Name"]).lower()
    target = out / f"{name}-{distribution.version}-{tag}.whl"
    records: list[str] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        info_dir = ""
        for file in distribution.files or []:
            parts = file.parts
            if parts[0] == ".." or "__pycache__" in parts or file.suffix == ".pyc":
                continue
            if parts[0].endswith(".dist-info"):
                info_dir = parts[0]
                if parts[-1] in _SKIPPED:
                    continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(file.as_posix(), data)
            records.append(f"{file.as_posix()},{_digest(data)},{len(data)}")
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return target


def make(out: Path, work: Path, extras: set[str]) -> Path:
    """out/: the engine's wheel and every wheel accessctl[extras] needs; returns the engine's."""
    out.mkdir(parents=True, exist_ok=True)
    for distribution in closure(extras):
        repack(distribution, out)
    return build_engine(out, work)
