"""Gather the VCS facts for each request and judge its approval, asking the VCS once per fact."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from accessctl.approval.approval import Verdict, judge_approval
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.on_behalf import issue_of, needs_issue_author
from accessctl.approval.vcs.base import PullRequest, Review, Vcs
from accessctl.approval.vcs.local_git import Landing, LocalHistory
from accessctl.core.errors import ConfigError
from accessctl.core.model import PagerDutyOnCall, Policies, Request, isoformat
from accessctl.judge.auto_approve import OnCallAnswer, pagerduty_sources
from accessctl.judge.evaluate import TeamLookup
from accessctl.read.load import FileSource, load_policies


def denials_file(audit_file: Path) -> Path:
    """Where the denial memory of the runs that write `audit_file` lives: beside it
    (`.accessctl/audit.jsonl` -> `.accessctl/audit.denials.json`)."""
    return audit_file.with_suffix(".denials.json")


@dataclass(frozen=True)
class Denial:
    request: str
    pull: int
    head: str
    at: str
    why: str
    commit: str = ""
    """The commit that brought the denied version of the file (local history): recalled
    before any API call. Empty in entries judged through the API alone."""


class DenialStorage(Protocol):
    """Somewhere else the memory is kept too (the `refs/accessctl/denials` ref, so that CI jobs
    whose checkout is thrown away still remember)."""

    def load(self) -> str | None:
        ...

    def save(self, text: str) -> None:
        ...


class DenialMemory:
    """Merged requests once judged and denied for want of approvals: later runs keep them
    denied.

    Why: who is in an approver team kept on the VCS is asked of the VCS now, not as it was
    when the approval was given. Someone outside the team approves, the merge is denied; she
    joins the team; without this memory the next run would count the old approval. Static
    teams need none (they are read at the judged base commit, which never changes).

    Where: a JSON file beside the audit file (`denials_file`), read by every apply and written
    by `apply --confirm` only. Keep it between runs as the audit file is kept (the crash
    journal needs that file too; see docs/ci.md). A remembered denial can only deny, so a
    forged or copied entry gains nothing; a lost file loses the memory, never a judgement.
    In a git checkout the memory is also kept in the ref `refs/accessctl/denials` (pushed with
    the ledger, `--ledger-remote`), so that CI jobs, whose checkout and files are thrown away,
    remember too. Keyed by the request's path, its merge request and that merge request's final
    commit, and (from local history) by the commit that brought the denied version: a later
    version of the file, or a new merge request for it, is judged afresh. A version recalled by
    its commit costs no API call at all.

    Since local history names the commit, every denial of a merged version is remembered, not
    only those for want of approvals: a direct push, a pull request by someone else, bytes that
    differ from what was approved, policies that refused it where the merge landed are facts of
    that commit that no later event changes.
    """

    def __init__(self, path: Path, storage: DenialStorage | None = None) -> None:
        self.path = path
        self.storage = storage
        self._known: dict[tuple[str, int, str], Denial] = {}
        self._by_commit: dict[tuple[str, str], Denial] = {}
        for denial in [*self._read(), *self._read_stored()]:
            self._add(self._known, denial)
        self._new: dict[tuple[str, int, str], Denial] = {}

    @staticmethod
    def _key(request: str, pull: int, head: str) -> tuple[str, int, str]:
        return request, pull, head

    def _add(self, into: dict[tuple[str, int, str], Denial], denial: Denial) -> None:
        into.setdefault(self._key(denial.request, denial.pull, denial.head), denial)
        if denial.commit:
            self._by_commit.setdefault((denial.request, denial.commit), denial)

    def _read(self) -> list[Denial]:
        try:
            raw = self.path.read_text("utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{self.path}: the denial memory cannot be read ({error}): "
                              f"{self._fix}") from None
        return self._parse(raw, str(self.path))

    def _read_stored(self) -> list[Denial]:
        raw = self.storage.load() if self.storage is not None else None
        return self._parse(raw, "refs/accessctl/denials") if raw is not None else []

    _fix = ("restore it from a backup, or delete it (the requests it kept denied are then "
            "judged afresh)")

    def _parse(self, raw: str, where: str) -> list[Denial]:
        fix = self._fix
        try:
            data: Any = json.loads(raw)
        except ValueError as error:
            line = getattr(error, "lineno", 1)
            raise ConfigError(f"{where} line {line}: the denial memory is not JSON "
                              f"({getattr(error, 'msg', error)}): {fix}") from None
        entries = data.get("denied") if isinstance(data, dict) else None
        fields = {"request": str, "pull": int, "head": str, "at": str, "why": str}
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in fields.items())
                and isinstance(e.get("commit", ""), str)
                for e in entries):
            raise ConfigError(f"{where}: not a denial memory written by accessctl (an "
                              f'object with a "denied" list of {", ".join(fields)}): {fix}')
        return [Denial(**{k: e[k] for k in fields}, commit=e.get("commit", ""))
                for e in entries]

    def recall(self, request: str, pull: PullRequest) -> Denial | None:
        key = self._key(request, pull.number, pull.head_sha)
        return self._known.get(key) or self._new.get(key)

    def recall_commit(self, request: str, commit: str) -> Denial | None:
        """The denial of the version of `request` that `commit` brought (no API call)."""
        return self._by_commit.get((request, commit))

    def remember(self, request: str, pull: PullRequest | None, verdict: Verdict, at: datetime,
                 commit: str = "") -> None:
        number, head = (pull.number, pull.head_sha) if pull is not None else (0, "")
        key = self._key(request, number, head)
        if key not in self._known and (request, commit) not in self._by_commit:
            self._add(self._new, Denial(request, number, head, isoformat(at),
                                        "; ".join(verdict.reasons), commit))

    def save(self) -> None:
        """Write what this run learnt (atomically: a crash leaves the old file whole)."""
        if not self._new:
            return
        merged = {**self._known, **self._new}
        body = {"denied": [vars(merged[k]) for k in sorted(merged)]}
        text = json.dumps(body, indent=1) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text, "utf-8")
        os.replace(partial, self.path)
        if self.storage is not None:
            self.storage.save(text)
        self._known, self._new = merged, {}


@dataclass
class Verifier:
    """Judges requests' approvals, asking the VCS once per fact within a run.

    With `local` (the checkout's git history, GitHub), the facts git holds come from git: the
    commit that brought each request file's current bytes, the state of the default branch that
    merge landed on (its first parent, where policies and CODEOWNERS are read), and the blob
    that is granted. The API is asked only what git cannot know: the pull request of that
    commit (`GET /repos/{o}/{r}/commits/{sha}/pulls`), its files (with each file's blob at the
    approved head), its reviews and team members. Where the checkout lacks a fact (a shallow
    clone, a file it does not hold), the API answers instead and `notes` says so."""

    vcs: Vcs
    denials: DenialMemory | None = None
    local: LocalHistory | None = None
    notes: list[str] = field(default_factory=list)
    _pulls: dict[str, PullRequest | None] = field(default_factory=dict)
    _commit_pulls: dict[str, list[PullRequest]] = field(default_factory=dict)
    _merged: dict[str, PullRequest] = field(default_factory=dict)
    _recent: Iterator[PullRequest] | None = None
    _scanned: int = 0
    expected: int = 1
    """How many requests this run will verify: how far the list of recent merges is read
    before each remaining commit is asked about on its own."""
    _with_files: dict[int, PullRequest] = field(default_factory=dict)
    _reviews: dict[int, list[Review]] = field(default_factory=dict)
    _ratifications: dict[int, list[Review]] = field(default_factory=dict)
    _bases: dict[str, tuple[Policies | None, CodeOwners | None]] = field(default_factory=dict)
    _teams: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _issue_authors: dict[int, str | None] = field(default_factory=dict)
    on_call: Callable[[PagerDutyOnCall, datetime], OnCallAnswer] | None = None
    """Who PagerDuty had on call at a time (approval/pagerduty.py): given to apply only."""

    def team_lookup(self, policies: Policies | None) -> TeamLookup:
        """Teams from the base commit's identities.yaml first, else from the VCS (cached)."""

        def lookup(name: str) -> frozenset[str] | None:
            key = name.casefold()
            if policies is not None and key in policies.teams:
                return policies.teams[key]
            if key not in self._teams:
                self._teams[key] = self.vcs.team_members(name)
            return self._teams[key]

        return lookup

    def on_behalf(self, pull: PullRequest, request: Request,
                  policies: Policies | None) -> PullRequest:
        """`pull` with `opened_for` filled in when a declared request bot opened it from an
        issue for someone else: who opened that issue, asked of the VCS (once per issue in a
        run). Any other pull request is returned as it is, with no call."""
        issue = issue_of(pull.head_ref)
        if issue is None or not needs_issue_author(pull, request, policies):
            return pull
        if issue not in self._issue_authors:
            self._issue_authors[issue] = self.vcs.issue_author(issue)
        return dataclasses.replace(pull, opened_for=self._issue_authors[issue])

    def pull_for(self, path: str) -> PullRequest | None:
        if path not in self._pulls:
            sha = self.vcs.last_commit_touching(path, self.vcs.default_branch)
            self._pulls[path] = (
                self.vcs.merged_pull_request_for(sha, path) if sha is not None else None
            )
        return self._pulls[path]

    def base(self, sha: str) -> tuple[Policies | None, CodeOwners | None]:
        if sha not in self._bases and self.local is not None:
            same = self.local.fingerprint(sha)
            if same is not None and same in self._bases:
                self._bases[sha] = self._bases[same]
                return self._bases[sha]
            if same is not None:
                self._bases[same] = self._bases[sha] = self._read_base(sha)
        if sha not in self._bases:
            self._bases[sha] = self._read_base(sha)
        return self._bases[sha]

    def _read_base(self, sha: str) -> tuple[Policies | None, CodeOwners | None]:
        local = self.local.files_at(sha) if self.local is not None else None
        if self.local is not None and local is None:
            self.notes.append(f"commit {sha[:12]} is not in the checkout: its policies and "
                              "CODEOWNERS are read through the API (check out with full "
                              "history: fetch-depth: 0)")
        files: FileSource = local if local is not None else self.vcs.files_at(sha)
        policies, _ = load_policies(files)
        # The platform uses the first CODEOWNERS it finds: judge by that same file.
        found = next((p for p in self.vcs.codeowners_paths() if files.read(p) is not None),
                     None)
        raw = files.read(found) if found is not None else None
        owners = (
            CodeOwners.parse(raw.decode("utf-8", "replace"), gitlab=self.vcs.kind == "gitlab",
                             file=found)
            if raw is not None else None
        )
        return policies, owners

    def landing(self, path: str) -> Landing | None:
        """How the request file's current version reached the default branch, from git."""
        return self.local.landing(path) if self.local is not None else None

    def verify(self, request: Request, now: datetime | None = None) -> Verdict:
        """The request's verdict at `now` (only a break-glass deadline depends on it)."""
        landing = self.landing(request.path)
        if landing is not None:
            return self._verify_landed(request, landing, now)
        if self.local is not None:
            self.notes.append(f"{request.path}: the checkout's history does not say which commit "
                              "brought it (a shallow clone?): its pull request is found through "
                              "the API")
        pull = self.pull_for(request.path)
        if pull is None:
            return judge_approval(request, None, [], None, None, lambda _: None,
                                  self.vcs.default_branch)
        earlier = self.denials.recall(request.path, pull) if self.denials else None
        if earlier is not None:
            return self._recalled(request, earlier, pull.number)
        verdict, unknown = self._judge(request, pull, pull.base_sha, now)
        # A team the VCS could not name (a token that may not read it, a typo) is no fact about
        # who approved: such a denial is not remembered, so it can be judged again once fixed.
        if self.denials is not None and not verdict.approved and verdict.lacked_approvals \
                and not unknown:
            self.denials.remember(request.path, pull, verdict, now or pull.merged_at
                                  or datetime.now().astimezone())
        return verdict

    def _what(self) -> str:
        return "merge request !" if self.vcs.kind == "gitlab" else "pull request #"

    def _recalled(self, request: Request, earlier: Denial, number: int | None) -> Verdict:
        what = self._what()
        which = f"{what}{number}" if number else f"the version commit {earlier.commit[:12]} " \
                                                  "brought"
        return Verdict(request.path, False, lacked_approvals=True, reasons=(
            f"denied at {earlier.at} ({earlier.why}); {which} stays denied: a later approval "
            f"or team membership cannot approve it: open a new {what[:-2]}",))

    def _verify_landed(self, request: Request, landing: Landing,
                       now: datetime | None) -> Verdict:
        path = request.path
        earlier = self.denials.recall_commit(path, landing.commit) if self.denials else None
        if earlier is not None:
            return self._recalled(request, earlier, None)  # no API call at all
        pull = self._landed_pull(landing)
        unknown: list[str] = []
        what = self._what()
        default = self.vcs.default_branch
        if pull is None:
            verdict = Verdict(path, False, reasons=(
                f"commit {landing.commit[:12]} brought this file to {default} without a merged "
                f"{what[:-2]} (direct push): open a {what[:-2]} for it",))
        elif path not in pull.changed_files:
            verdict = Verdict(path, False, pull=pull, reasons=(
                f"{what}{pull.number} does not change this file, so its reviews did not see it "
                f"(commit {landing.commit[:12]} brought it): open a {what[:-2]} for it",))
        elif pull.head_blob(path) != landing.blob:
            head_blob = pull.head_blob(path)
            verdict = Verdict(path, False, pull=pull, reasons=(
                f"the file on {default} (blob {landing.blob[:12]}, from commit "
                f"{landing.commit[:12]}) is not what {what}{pull.number} approved (blob "
                f"{head_blob[:12] if head_blob else 'unknown'} at its head commit "
                f"{pull.head_sha[:12]}): the merge combined it with other changes; open a new "
                f"{what[:-2]} with the file as it should be",))
        elif landing.parent is None:
            verdict = Verdict(path, False, pull=pull, reasons=(
                f"commit {landing.commit[:12]} has no parent, so there are no policies the "
                "merge landed on to judge it by",))
        else:
            verdict, unknown = self._judge(request, pull, landing.parent, now)
        if self.denials is not None and not verdict.approved and not unknown \
                and verdict.break_glass is None:
            self.denials.remember(path, pull, verdict, now or (pull.merged_at if pull else None)
                                  or datetime.now().astimezone(), commit=landing.commit)
        return verdict

    def _landed_pull(self, landing: Landing) -> PullRequest | None:
        """The merged pull request whose merge put `landing.commit` on the default branch: the
        platform names the candidates; git says whether each one's merge really is that commit
        or (a rebase of several commits) a first-parent descendant of it, the nearest wins."""
        assert self.local is not None
        exact = self._recently_merged(landing.commit)
        if exact is not None:
            if exact.number not in self._with_files:
                self._with_files[exact.number] = self.vcs.with_files(exact)
            return dataclasses.replace(self._with_files[exact.number],
                                       base_sha=landing.parent or "")
        if landing.commit not in self._commit_pulls:
            self._commit_pulls[landing.commit] = self.vcs.pulls_for_commit(landing.commit)
        here = self.local.first_parent_position(landing.commit)
        best: tuple[int, PullRequest] | None = None
        for pull in self._commit_pulls[landing.commit]:
            if not pull.merged or pull.merged_at is None or not pull.merge_commit_sha \
                    or pull.base_ref != self.vcs.default_branch:
                continue
            merged = self.local.first_parent_position(pull.merge_commit_sha)
            if here is None or merged is None or merged > here:
                continue  # its merge is not on the branch, or is older than the commit
            if best is None or merged > best[0]:
                best = (merged, pull)
        if best is None:
            return None
        pull = best[1]
        if pull.number not in self._with_files:
            self._with_files[pull.number] = self.vcs.with_files(pull)
        return dataclasses.replace(self._with_files[pull.number], base_sha=landing.parent or "")

    def _recently_merged(self, commit: str) -> PullRequest | None:
        """The pull request whose merge made exactly `commit` (its `merge_commit_sha`: a merge
        commit, a squash, the last commit of a rebase), from the list of recent merges: one call
        per 100 pull requests instead of one per commit. Read up to the number of requests this
        run verifies, plus a page; a commit not found there is asked about on its own."""
        if commit in self._merged:
            return self._merged[commit]
        if self._recent is None:
            self._recent = self.vcs.recently_merged()
        limit = self.expected + 100
        while self._scanned < limit:
            pull = next(self._recent, None)
            if pull is None:
                self._scanned = limit
                break
            self._scanned += 1
            if pull.merge_commit_sha and pull.base_ref == self.vcs.default_branch:
                self._merged.setdefault(pull.merge_commit_sha, pull)
            if commit in self._merged:
                return self._merged[commit]
        return None

    def _judge(self, request: Request, pull: PullRequest, base: str,
               now: datetime | None) -> tuple[Verdict, list[str]]:
        """The verdict by the policies and CODEOWNERS at `base`, and the facts it could not
        read (teams, who PagerDuty had on call)."""
        policies, owners = self.base(base)
        if pull.number not in self._reviews:
            self._reviews[pull.number] = self.vcs.reviews(pull)
        reviews = self._reviews[pull.number]
        entitlement = policies.entitlements.get(request.entitlement) if policies else None
        if entitlement is not None and entitlement.break_glass is not None:
            # Only a break-glass grant can be ratified after the merge: ask for those records
            # (on GitLab, the merge request's notes) only then, once per pull request.
            if pull.number not in self._ratifications:
                self._ratifications[pull.number] = self.vcs.ratifications(pull)
            reviews = [*reviews, *self._ratifications[pull.number]]
        unknown: list[str] = []
        known = self.team_lookup(policies)

        def teams(name: str) -> frozenset[str] | None:
            members = known(name)
            if members is None:
                unknown.append(name)
            return members

        pull = self.on_behalf(pull, request, policies)
        verdict = judge_approval(request, pull, reviews, policies, owners, teams,
                                 self.vcs.default_branch, now=now)
        if verdict.pending_rule is not None and self.on_call is not None \
                and entitlement is not None and pull.merged_at is not None:
            # A rule approves if PagerDuty had the requester on call at the merge: ask, only
            # now that nothing else approved it, and judge again with the answer.
            merged_at = pull.merged_at
            facts = {where: self.on_call(where, merged_at)
                     for where in pagerduty_sources(entitlement)}
            verdict = judge_approval(request, pull, reviews, policies, owners, teams,
                                     self.vcs.default_branch, now=now, pagerduty=facts)
            # Who was on call could not be read: no fact about the approval, not remembered.
            unknown += [f"PagerDuty: {a.error}" for a in facts.values() if a.error is not None]
        if verdict.pending_rule is not None:
            unknown.append("PagerDuty: not asked")  # nor when nobody asked PagerDuty at all
        return verdict, unknown
