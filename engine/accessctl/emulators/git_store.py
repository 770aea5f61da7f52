"""The emulated git store the GitHub and GitLab emulators share.

A repository is a dict of commits by SHA, each naming its parents and holding a flat
`{path: bytes}` tree. This module answers what both platforms ask of that graph (ancestors, the
merge base, the commits one ref has and another lacks), changes trees (seeding edits, a change
applied onto another tree, three-way merges by line as git merges), and computes git's own object
IDs for blobs, trees and commits, so that an emulator can hand out SHAs a real clone reproduces.
Each emulator keeps its own commit record and API shapes; only the git logic lives here.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

FileContent = str | bytes | None
"""A file as the seeding helpers take it: text, bytes, or None to delete the path."""

GitObjects = dict[str, tuple[str, bytes]]
"""sha -> (kind, body): an emulator's git object store."""


class Node(Protocol):
    """What the graph functions need of a commit: its parents, and the order it was made in."""

    @property
    def parents(self) -> list[str]: ...

    @property
    def seq(self) -> int: ...


# -- the commit graph ---------------------------------------------------------------------------
def ancestors(commits: Mapping[str, Node], sha: str) -> list[str]:
    """`sha` and every commit it descends from, nearest first (breadth first)."""
    seen: set[str] = set()
    order: list[str] = []
    queue = deque([sha])
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        order.append(current)
        queue.extend(commits[current].parents)
    return order


def is_ancestor(commits: Mapping[str, Node], ancestor: str, descendant: str) -> bool:
    """Whether `ancestor` is `descendant` or one of its ancestors (`git merge-base
    --is-ancestor`)."""
    return ancestor in set(ancestors(commits, descendant))


def merge_base(commits: Mapping[str, Node], one: str, other: str) -> str:
    """The newest commit both descend from. No other common ancestor descends from it, so it is
    one of git's best common ancestors; ValueError when the two share no history."""
    common = set(ancestors(commits, one)) & set(ancestors(commits, other))
    if not common:
        raise ValueError(f"{one} and {other} share no history")
    return max(common, key=lambda sha: commits[sha].seq)


def only_in(commits: Mapping[str, Node], head: str, base: str | None) -> list[str]:
    """The commits reachable from `head` but not from `base` (`git log base..head`), nearest
    to `head` first; with no base, all of `head`'s history."""
    excluded = set(ancestors(commits, base)) if base is not None else set()
    return [sha for sha in ancestors(commits, head) if sha not in excluded]


def abbreviated(commits: Mapping[str, Any], prefix: str) -> str | None:
    """The one commit whose SHA starts with `prefix` (seven characters at least), else None."""
    if len(prefix) < 7:
        return None
    found = [sha for sha in commits if sha.startswith(prefix)]
    return found[0] if len(found) == 1 else None


# -- trees ----------------------------------------------------------------------------------------
def encode(files: Mapping[str, FileContent]) -> list[tuple[str, bytes | None]]:
    """The seeding helpers' files as bytes (None stays None: delete the path)."""
    return [(path, content.encode() if isinstance(content, str) else content)
            for path, content in files.items()]


def edit(tree: Mapping[str, bytes], changes: Iterable[tuple[str, bytes | None]]
         ) -> dict[str, bytes]:
    """A copy of `tree` with each path set to its new content, or removed where it is None."""
    result = dict(tree)
    for path, content in changes:
        if content is None:
            result.pop(path, None)
        else:
            result[path] = content
    return result


def changed_paths(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[str]:
    """The paths whose content differs between two trees (added, removed or modified), sorted."""
    return [path for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path)]


def subtree(tree: Mapping[str, bytes], path: str) -> dict[str, bytes]:
    """The files at `path` (a file or a directory) in a tree."""
    return {k: v for k, v in tree.items() if k == path or k.startswith(path + "/")}


def apply(onto: Mapping[str, bytes], before: Mapping[str, bytes], after: Mapping[str, bytes],
          what: str, by_lines: bool = True) -> dict[str, bytes]:
    """Apply the change `before -> after` on top of `onto`, file by file: a three-way merge
    whose base is `before`. A file changed on both sides is merged by lines (`merge_lines`)
    when `by_lines`, else it is a conflict; a conflict raises ValueError naming the path and
    `what` is being applied."""
    result = dict(onto)
    for path in set(before) | set(after):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        mine = onto.get(path)
        if mine not in (old, new):
            merged = (merge_lines(old, mine, new)
                      if by_lines and old is not None and mine is not None and new is not None
                      else None)
            if merged is None:
                raise ValueError(f"merge conflict in {path} applying {what[:7]}")
            new = merged
        if new is None:
            result.pop(path, None)
        else:
            result[path] = new
    return result


def merge_lines(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """A three-way merge of one file by lines, as git merges: both sides' changes where they
    change different lines; None (a conflict) where they touch or overlap."""
    lines = base.splitlines(keepends=True)

    def hunks(other: bytes) -> list[tuple[int, int, list[bytes]]]:
        changed = other.splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(None, lines, changed, autojunk=False)
        return [(i1, i2, changed[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                if tag != "equal"]

    mine, yours = hunks(ours), hunks(theirs)
    for a1, a2, a_lines in mine:
        for b1, b2, b_lines in yours:
            if a1 <= b2 and b1 <= a2 and (a1, a2, a_lines) != (b1, b2, b_lines):
                return None
    result = list(lines)
    for start, end, replacement in sorted({(a, b, tuple(c)) for a, b, c in mine + yours},
                                          reverse=True):
        result[start:end] = replacement
    return b"".join(result)


# -- git's object IDs -----------------------------------------------------------------------------
def git_hash(kind: bytes, body: bytes) -> str:
    return hashlib.sha1(kind + b" %d\0" % len(body) + body).hexdigest()


def blob_sha(data: bytes) -> str:
    return git_hash(b"blob", data)


def git_tree(tree: Mapping[str, bytes], objects: GitObjects | None = None) -> str:
    """The git tree ID of a flat {path: content} tree (nested trees built as git builds them);
    every tree and blob is kept in `objects` when given."""
    nested: dict[str, Any] = {}
    for path, content in tree.items():
        *dirs, name = path.split("/")
        node = nested
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = content
    return _tree_object(nested, objects)


def _tree_object(node: Mapping[str, Any], objects: GitObjects | None) -> str:
    entries = []
    for name, value in node.items():
        if isinstance(value, dict):
            entries.append((name + "/", b"40000 " + name.encode() + b"\0",
                            _tree_object(value, objects)))
        else:
            sha = blob_sha(value)
            if objects is not None and sha not in objects:
                objects[sha] = ("blob", value)
            entries.append((name, b"100644 " + name.encode() + b"\0", sha))
    entries.sort(key=lambda e: e[0].encode())  # git sorts a directory as its name plus "/"
    body = b"".join(head + bytes.fromhex(sha) for _, head, sha in entries)
    sha = git_hash(b"tree", body)
    if objects is not None and sha not in objects:
        objects[sha] = ("tree", body)
    return sha


def tree_sha(tree: Mapping[str, bytes], prefix: str = "") -> str:
    """The git tree ID of the directory `prefix` (its files given with the prefix)."""
    return git_tree({k[len(prefix):]: v for k, v in tree.items()})


def commit_object(objects: GitObjects, tree: Mapping[str, bytes], parents: list[str], name: str,
                  email: str, when: datetime, message: str) -> str:
    """Write a commit object (and its trees and blobs) into `objects` as git writes it, author
    and committer alike, and return its SHA."""
    person = f"{name} <{email}> {int(when.timestamp())} +0000".encode()
    body = b"tree " + git_tree(tree, objects).encode() + b"\n"
    body += b"".join(b"parent " + p.encode() + b"\n" for p in parents)
    body += b"author " + person + b"\ncommitter " + person + b"\n\n"
    body += message.encode() + (b"" if message.endswith("\n") else b"\n")
    sha = git_hash(b"commit", body)
    objects[sha] = ("commit", body)
    return sha


def commit_tree_id(objects: GitObjects, sha: str) -> str:
    """The tree a commit object names (its first line, `tree <sha>`)."""
    return objects[sha][1][5:45].decode()


def _tree_entries(body: bytes) -> list[str]:
    """The object IDs a tree object names."""
    found = []
    position = 0
    while position < len(body):
        end = body.index(b"\0", position)
        found.append(body[end + 1:end + 21].hex())
        position = end + 21
    return found


def objects_to_send(commits: Mapping[str, Node], objects: GitObjects, start: str,
                    have: Callable[[str], bool]) -> list[tuple[str, str, bytes]]:
    """The git objects (sha, kind, body) of every commit reachable from `start` for which
    `have(sha)` is false, with their trees and blobs: what a fetch would send. Parents first,
    so that a reader can write them in order."""
    wanted: list[str] = []
    seen: set[str] = set()
    todo = [start]
    while todo:
        sha = todo.pop()
        if sha in seen or have(sha):
            continue
        seen.add(sha)
        wanted.append(sha)
        todo.extend(commits[sha].parents)
    found: list[tuple[str, str, bytes]] = []
    sent: set[str] = set()

    def walk(sha: str) -> None:
        if sha in sent:
            return
        sent.add(sha)
        kind, body = objects[sha]
        if kind == "tree":
            for entry in _tree_entries(body):
                walk(entry)
        found.append((sha, kind, body))

    for sha in sorted(wanted, key=lambda s: commits[s].seq):
        kind, body = objects[sha]
        walk(commit_tree_id(objects, sha))
        found.append((sha, kind, body))
    return found
