"""Where files come from: a working tree (no symbolic link followed, nothing outside the root),
or files in memory (tests, and files read from a commit on the VCS)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from accessctl.core.model import Finding, Location


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

