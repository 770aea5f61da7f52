"""Where the ledger lives: one git ref per provider instance, `refs/accessctl/ledger/<instance>`.

Each write is a commit on that ref holding one file, `ledger.json`, whose parent is the previous
record, so the record keeps its own history. On CI the checkout is thrown away after each job, so
with a remote configured (`--ledger-remote origin` or ACCESSCTL_LEDGER_REMOTE) the ref is fetched
at the start and pushed after each write: a fast-forward push that fails (someone else moved it)
stops the run before any platform write. One ref per instance because one CI job per instance
writes it: jobs running side by side never race on the same ref.

Forging it: anyone who can push to the repository can push this ref (branch protection does not
cover it). The only thing a forged record can do that git history alone cannot is mark a pair as
`standing`, so that its grant is never revoked, or, the same in effect, record a grant's
`principal_id` as someone else's, so that the revoke misses its holder. With
ACCESSCTL_LEDGER_KEY set (a secret held only by the jobs that hold platform credentials), every
record carries an HMAC-SHA256 of its content, and a record whose signature does not match is
ignored: the run falls back to git history, which revokes whatever request files named (fail
closed). Deleting the ref gains nothing either: a lost record (the ref is gone but
`refs/accessctl/applied` shows the engine ran before) never turns present members into standing
access.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from accessctl.change.ledger import Entry, Ledger, Origin
from accessctl.core.errors import ConfigError

PREFIX = "refs/accessctl/ledger/"
APPLIED = "refs/accessctl/applied"
FILE = "ledger.json"
KEY_ENV = "ACCESSCTL_LEDGER_KEY"
REMOTE_ENV = "ACCESSCTL_LEDGER_REMOTE"
_IDENTITY = {"GIT_AUTHOR_NAME": "accessctl", "GIT_AUTHOR_EMAIL": "accessctl@localhost",
             "GIT_COMMITTER_NAME": "accessctl", "GIT_COMMITTER_EMAIL": "accessctl@localhost"}


class LedgerError(ConfigError):
    """The record cannot be read or kept: nothing is changed on any platform."""


def _git(repo: Path, *args: str, stdin: bytes | None = None, check: bool = True
         ) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, input=stdin,
                              timeout=300, env={**os.environ, **_IDENTITY})
    except FileNotFoundError:
        raise LedgerError("git is not installed, so the ledger cannot be kept") from None
    if check and done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise LedgerError(f"ledger: git {' '.join(args[:2])}: "
                          f"{lines[-1] if lines else done.returncode}")
    return done


def _sign(key: str, body: Mapping[str, object]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key.encode(), canonical, hashlib.sha256).hexdigest()


class LedgerStore:
    """Reads and writes the ledger refs of one checkout (and its remote, when given)."""

    def __init__(self, repo: Path, environ: Mapping[str, str], remote: str | None = None):
        self.repo = repo
        self.key = environ.get(KEY_ENV) or None
        self.remote = remote or environ.get(REMOTE_ENV) or None
        self.warnings: list[str] = []
        self._heads: dict[str, str | None] = {}

    def _rev(self, ref: str) -> str | None:
        done = _git(self.repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                    check=False)
        if done.returncode != 0:
            return None
        return done.stdout.decode().strip() or None

    def fetch(self, instances: Iterable[str]) -> None:
        """Bring the remote's records (and the applied marker) into the checkout."""
        if self.remote is None:
            return
        refs = [f"{PREFIX}{name}" for name in instances] + [APPLIED]
        listed = _git(self.repo, "ls-remote", self.remote, *refs)
        present = {line.split("\t")[1] for line in listed.stdout.decode().splitlines()
                   if "\t" in line}
        wanted = [f"+{ref}:{ref}" for ref in refs if ref in present]
        if wanted:
            _git(self.repo, "fetch", "--quiet", "--no-tags", self.remote, *wanted)

    def read(self, instance: str) -> Ledger:
        ref = PREFIX + instance
        head = self._rev(ref)
        self._heads[instance] = head
        lost = self._rev(APPLIED) is not None
        if head is None:
            return Ledger(instance, exists=False, lost=lost)
        raw = _git(self.repo, "cat-file", "blob", f"{head}:{FILE}", check=False)
        try:
            data = json.loads(raw.stdout) if raw.returncode == 0 else None
            if not isinstance(data, dict) or data.get("instance") != instance:
                raise ValueError("not a ledger of this instance")
            body = {"instance": instance, "entries": data["entries"]}
            if self.key is not None and not hmac.compare_digest(
                    str(data.get("signature", "")), _sign(self.key, body)):
                raise ValueError(f"its signature does not match {KEY_ENV}")
            entries = {}
            for item in data["entries"]:
                # Records written before ids were kept have no principal_id: still readable.
                principal_id = item.get("principal_id")
                if principal_id is not None and not isinstance(principal_id, str):
                    raise ValueError(f"principal_id {principal_id!r} is not a string")
                found = item.get("found") or {}
                entry = Entry(str(item["target"]), str(item["principal"]),
                              Origin(item["origin"]), str(item["at"]),
                              tuple(str(p) for p in item.get("requests", ())),
                              item.get("expires_at"),
                              tuple(sorted((str(k), str(v)) for k, v in found.items())),
                              tuple(str(b) for b in item.get("blobs", ())),
                              principal_id)
                entries[(entry.target, entry.principal)] = entry
        except (ValueError, KeyError, TypeError) as error:
            self.warnings.append(
                f"the ledger of {instance} ({ref}) is not trusted ({error}): its records are "
                "ignored, and what request files ever named is the engine's to end")
            return Ledger(instance, exists=False, lost=True)
        return Ledger(instance, entries, exists=True)

    def write(self, ledger: Ledger, commit: str | None) -> None:
        """Record `ledger` as a new commit on its ref (and push it): before any platform write
        that depends on it."""
        instance = ledger.instance
        ref = PREFIX + instance
        entries = [e.as_dict() for _, e in sorted(ledger.entries.items())]
        body: dict[str, object] = {"instance": instance, "entries": entries}
        document = {"version": 1, **body, "commit": commit}
        if self.key is not None:
            document["signature"] = _sign(self.key, body)
        text = json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"
        blob = _git(self.repo, "hash-object", "-w", "--stdin", stdin=text).stdout.decode().strip()
        tree = _git(self.repo, "mktree", stdin=f"100644 blob {blob}\t{FILE}\n".encode()
                    ).stdout.decode().strip()
        old = self._heads.get(instance)
        parents = ["-p", old] if old else []
        message = f"accessctl ledger: {instance}" + (f" at {commit}" if commit else "")
        new = _git(self.repo, "commit-tree", tree, *parents, "-m", message).stdout.decode().strip()
        # Compare and swap: the ref must still be where this run read it.
        _git(self.repo, "update-ref", ref, new, old or "0" * 40)
        if self.remote is not None:
            pushed = _git(self.repo, "push", "--quiet", "--porcelain", self.remote,
                          f"{new}:{ref}", check=False)
            if pushed.returncode != 0:
                if old:  # undo locally what the remote refused
                    _git(self.repo, "update-ref", ref, old, new, check=False)
                else:
                    _git(self.repo, "update-ref", "-d", ref, check=False)
                lines = pushed.stderr.decode("utf-8", "replace").strip().splitlines()
                raise LedgerError(
                    f"the ledger of {instance} could not be pushed to {self.remote} "
                    f"({lines[-1] if lines else 'push failed'}): nothing was changed on "
                    f"{instance}; the job needs contents: write on the repository")
        self._heads[instance] = new


def store_for(repo: Path, environ: Mapping[str, str], remote: str | None = None
              ) -> LedgerStore | None:
    """A store when `repo` is a git checkout of its own (else no record can be kept: the run
    judges by the request files as they stand, as it always did)."""
    from accessctl.read.history import is_git_checkout

    return LedgerStore(repo, environ, remote) if is_git_checkout(repo) else None


DENIALS = "refs/accessctl/denials"
DENIALS_FILE = "denials.json"


class DenialRef:
    """The denial memory (approval/verify.py) kept in `refs/accessctl/denials`, beside the
    ledger and pushed with it, so that a CI job whose checkout is thrown away still knows which
    requests were denied for good and asks the VCS nothing about them.

    No signature is needed: a remembered denial can only deny, so a forged entry gains nothing,
    and a deleted ref only costs the calls to judge those requests again. A push that fails
    (another job moved the ref) is retried once on top of the other job's record, then reported:
    the memory is never a reason to stop a run."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self._head: str | None = None
        self._fetched = False

    def _fetch(self) -> None:
        store = self.store
        if store.remote is not None:
            listed = _git(store.repo, "ls-remote", store.remote, DENIALS, check=False)
            if listed.returncode == 0 and listed.stdout.strip():
                _git(store.repo, "fetch", "--quiet", "--no-tags", store.remote,
                     f"+{DENIALS}:{DENIALS}", check=False)
        self._fetched = True

    def load(self) -> str | None:
        if not self._fetched:
            self._fetch()
        self._head = self.store._rev(DENIALS)
        if self._head is None:
            return None
        raw = _git(self.store.repo, "cat-file", "blob", f"{self._head}:{DENIALS_FILE}",
                   check=False)
        return raw.stdout.decode("utf-8", "replace") if raw.returncode == 0 else None

    def save(self, text: str) -> None:
        for attempt in (1, 2):
            try:
                self._write(text)
                return
            except LedgerError as error:
                if attempt == 2:
                    self.store.warnings.append(f"the denial memory was not kept ({error}): the "
                                               "next run judges those requests again")
                    return
                self._fetched = False
                text = _union(text, self.load())  # the other job's record, and this run's

    def _write(self, text: str) -> None:
        store = self.store
        repo = store.repo
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text.encode()
                    ).stdout.decode().strip()
        tree = _git(repo, "mktree", stdin=f"100644 blob {blob}\t{DENIALS_FILE}\n".encode()
                    ).stdout.decode().strip()
        old = self._head
        parents = ["-p", old] if old else []
        new = _git(repo, "commit-tree", tree, *parents, "-m", "accessctl denials"
                   ).stdout.decode().strip()
        _git(repo, "update-ref", DENIALS, new, old or "0" * 40)
        if store.remote is not None:
            pushed = _git(repo, "push", "--quiet", "--porcelain", store.remote,
                          f"{new}:{DENIALS}", check=False)
            if pushed.returncode != 0:
                if old:
                    _git(repo, "update-ref", DENIALS, old, new, check=False)
                else:
                    _git(repo, "update-ref", "-d", DENIALS, check=False)
                raise LedgerError(f"push to {store.remote} refused")
        self._head = new


def _union(mine: str, theirs: str | None) -> str:
    """Both denial memories' entries in one (each entry once)."""
    try:
        entries = list(json.loads(mine)["denied"]) + list(
            json.loads(theirs)["denied"] if theirs else [])
    except (ValueError, KeyError, TypeError):
        return mine
    unique = {json.dumps(e, sort_keys=True): e for e in entries}
    return json.dumps({"denied": [unique[k] for k in sorted(unique)]}, indent=1) + "\n"
