"""Gather the VCS facts for each request and judge its approval, asking the VCS once per fact."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.approval import Verdict, judge_approval
from engine.codeowners import CodeOwners
from engine.evaluate import TeamLookup
from engine.load import load_policies
from engine.model import Policies, Request
from engine.vcs.base import PullRequest, Review, Vcs


@dataclass
class Verifier:
    vcs: Vcs
    _pulls: dict[str, PullRequest | None] = field(default_factory=dict)
    _reviews: dict[int, list[Review]] = field(default_factory=dict)
    _ratifications: dict[int, list[Review]] = field(default_factory=dict)
    _bases: dict[str, tuple[Policies | None, CodeOwners | None]] = field(default_factory=dict)
    _teams: dict[str, frozenset[str] | None] = field(default_factory=dict)

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
        return judge_approval(
            request, pull, reviews, policies, owners,
            self.team_lookup(policies), self.vcs.default_branch, now=now,
        )
