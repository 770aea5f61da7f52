"""Gather the VCS facts for each request and judge its approval, asking the VCS once per fact."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from accessctl.approval.approval import Verdict, judge_approval
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.vcs.base import PullRequest, Review, Vcs
from accessctl.core.errors import ConfigError
from accessctl.core.model import PagerDutyOnCall, Policies, Request, isoformat
from accessctl.judge.auto_approve import OnCallAnswer, pagerduty_sources
from accessctl.judge.evaluate import TeamLookup
from accessctl.read.load import load_policies


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
    Keyed by the request's path, its merge request and that merge request's final commit: a new
    merge request for the same file is judged afresh.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known = {self._key(d.request, d.pull, d.head): d for d in self._read()}
        self._new: dict[tuple[str, int, str], Denial] = {}

    @staticmethod
    def _key(request: str, pull: int, head: str) -> tuple[str, int, str]:
        return request, pull, head

    def _read(self) -> list[Denial]:
        fix = ("restore it from a backup, or delete it (the requests it kept denied are then "
               "judged afresh)")
        try:
            raw = self.path.read_text("utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{self.path}: the denial memory cannot be read ({error}): "
                              f"{fix}") from None
        try:
            data: Any = json.loads(raw)
        except ValueError as error:
            line = getattr(error, "lineno", 1)
            raise ConfigError(f"{self.path} line {line}: the denial memory is not JSON "
                              f"({getattr(error, 'msg', error)}): {fix}") from None
        entries = data.get("denied") if isinstance(data, dict) else None
        fields = {"request": str, "pull": int, "head": str, "at": str, "why": str}
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in fields.items())
                for e in entries):
            raise ConfigError(f"{self.path}: not a denial memory written by accessctl (an "
                              f'object with a "denied" list of {", ".join(fields)}): {fix}')
        return [Denial(**{k: e[k] for k in fields}) for e in entries]

    def recall(self, request: str, pull: PullRequest) -> Denial | None:
        key = self._key(request, pull.number, pull.head_sha)
        return self._known.get(key) or self._new.get(key)

    def remember(self, request: str, pull: PullRequest, verdict: Verdict, at: datetime) -> None:
        key = self._key(request, pull.number, pull.head_sha)
        if key not in self._known:
            self._new[key] = Denial(request, pull.number, pull.head_sha, isoformat(at),
                                    "; ".join(verdict.reasons))

    def save(self) -> None:
        """Write what this run learnt (atomically: a crash leaves the old file whole)."""
        if not self._new:
            return
        merged = {**self._known, **self._new}
        body = {"denied": [vars(merged[k]) for k in sorted(merged)]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(body, indent=1) + "\n", "utf-8")
        os.replace(partial, self.path)
        self._known, self._new = merged, {}


@dataclass
class Verifier:
    vcs: Vcs
    _pulls: dict[str, PullRequest | None] = field(default_factory=dict)
    _reviews: dict[int, list[Review]] = field(default_factory=dict)
    _ratifications: dict[int, list[Review]] = field(default_factory=dict)
    _bases: dict[str, tuple[Policies | None, CodeOwners | None]] = field(default_factory=dict)
    _teams: dict[str, frozenset[str] | None] = field(default_factory=dict)
    denials: DenialMemory | None = None
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

    def pull_for(self, path: str) -> PullRequest | None:
        if path not in self._pulls:
            sha = self.vcs.last_commit_touching(path, self.vcs.default_branch)
            self._pulls[path] = (
                self.vcs.merged_pull_request_for(sha, path) if sha is not None else None
            )
        return self._pulls[path]

    def base(self, sha: str) -> tuple[Policies | None, CodeOwners | None]:
        if sha not in self._bases:
            files = self.vcs.files_at(sha)
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
            self._bases[sha] = (policies, owners)
        return self._bases[sha]

    def verify(self, request: Request, now: datetime | None = None) -> Verdict:
        """The request's verdict at `now` (only a break-glass deadline depends on it)."""
        pull = self.pull_for(request.path)
        if pull is None:
            return judge_approval(request, None, [], None, None, lambda _: None,
                                  self.vcs.default_branch)
        earlier = self.denials.recall(request.path, pull) if self.denials else None
        if earlier is not None:
            what = "merge request !" if self.vcs.kind == "gitlab" else "pull request #"
            return Verdict(request.path, False, pull=pull, lacked_approvals=True, reasons=(
                f"denied at {earlier.at} for want of approvals on {what}{pull.number} "
                f"({earlier.why}); an approval or a team membership that came later cannot "
                f"approve it: open a new {what[:-2]}",))
        policies, owners = self.base(pull.base_sha)
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
        # A team the VCS could not name (a token that may not read it, a typo) is no fact about
        # who approved: such a denial is not remembered, so it can be judged again once fixed.
        if self.denials is not None and not verdict.approved and verdict.lacked_approvals \
                and not unknown:
            self.denials.remember(request.path, pull, verdict, now or pull.merged_at
                                  or datetime.now().astimezone())
        return verdict
