"""Whether a merged request was approved the way the policy says. Pure: the VCS facts come in.

This is the heart of the product: the code owners' review of the pull request is the approval.
Branch protection alone is not trusted (admins bypass it, settings drift), so every rule is
checked here again, against the policies and CODEOWNERS of the pull request's base commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from accessctl.approval.codeowners import ROLE_PREFIX, CodeOwners
from accessctl.approval.on_behalf import opener_problem
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.core.durations import format_duration
from accessctl.core.model import Policies, Request, Severity, isoformat
from accessctl.judge import break_glass
from accessctl.judge.auto_approve import OnCallFacts, judge_rules
from accessctl.judge.evaluate import TeamLookup, evaluate, is_member

PROTECTED_PREFIXES = ("policies/", "schemas/", "engine/", ".github/", ".gitlab/", "emulators/",
                      ".gitlab-ci", ".ci/", "pyproject.toml", "Makefile")
REQUESTS_PREFIX = "access-requests/"


@dataclass(frozen=True)
class Verdict:
    path: str
    approved: bool
    approvers: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    """What is missing, each sentence one a person can act on."""
    could_approve: tuple[str, ...] = ()
    pull: PullRequest | None = None
    approved_by_rule: str | None = None
    """The auto-approval rule that approved the request (no human approval was needed)."""
    break_glass: str | None = None
    """For a request on its entitlement's break-glass path: "awaiting" (granted, ratification
    due by `deadline`), "ratified" (code owners approved after the merge, in time) or
    "not-ratified" (the deadline passed without it: it backs nothing)."""
    deadline: datetime | None = None
    """When the code owners' ratification of a break-glass request is due."""
    lacked_approvals: bool = False
    """Denied for want of approvals (the reviews were counted and fell short), rather than for
    a rule the pull request broke."""
    on_call: tuple[str, ...] = ()
    """Who PagerDuty had on call at the merge, for the rule that approved (or was judged)."""
    pending_rule: str | None = None
    """Not approved yet: this auto-approval rule approves if the requester is still on call at
    the merge, which only apply (holding the PagerDuty token) can ask."""

    @property
    def how(self) -> str:
        """How the request was approved, in a few words (for comments, audit and status)."""
        if self.approved_by_rule:
            on = f" (on call: {', '.join(self.on_call)})" if self.on_call else ""
            return f"auto-approved by rule {self.approved_by_rule}{on}"
        if self.break_glass == "awaiting" and self.deadline is not None:
            return f"break-glass: code owners must ratify by {isoformat(self.deadline)}"
        if self.break_glass == "ratified":
            return "break-glass, ratified by " + ", ".join(self.approvers)
        if self.approved:
            return "approved by " + ", ".join(self.approvers)
        if self.pending_rule:
            return f"approved by rule {self.pending_rule} if on call at the merge (PagerDuty " \
                   "not asked here)"
        if self.break_glass == "not-ratified" and self.deadline is not None:
            return f"break-glass not ratified by {isoformat(self.deadline)}"
        return "not approved"


def mixes_requests_and_policy(files: Iterable[str]) -> list[str]:
    """The protected files of a pull request that also changes requests (empty when fine)."""
    changed = list(files)
    if not any(f.startswith(REQUESTS_PREFIX) for f in changed):
        return []
    # A CODEOWNERS file anywhere may be the one the platform reads (GitLab checks three places).
    return sorted(f for f in changed
                  if f.startswith(PROTECTED_PREFIXES) or f.rsplit("/", 1)[-1] == "CODEOWNERS")


def latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's review that counts: the latest approval, change request or dismissal.

    Comments do not change a reviewer's standing, as on GitHub; a later CHANGES_REQUESTED or a
    dismissal cancels an earlier approval.
    """
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state in (ReviewState.COMMENTED, ReviewState.PENDING):
            continue
        latest[review.login.casefold()] = review
    return latest


def _owns(login: str, owners: Iterable[str], teams: TeamLookup) -> bool:
    # `@login` is a person; `@org/team` a team; `@@role` (GitLab) the project's direct members
    # with that role, which the VCS answers like a team.
    names = [o[1:] if o.startswith("@") and "/" not in o and not o.startswith(ROLE_PREFIX)
             else o for o in owners]
    return bool(is_member(login, names, teams))


def code_owner(login: str, owners: Iterable[str], teams: TeamLookup) -> bool:
    """Whether `login` is one of CODEOWNERS' `owners` (a user, or a member of an owner team)."""
    return _owns(login, owners, teams)


def judge_approval(
    request: Request,
    pull: PullRequest | None,
    reviews: Sequence[Review],
    base_policies: Policies | None,
    codeowners: CodeOwners | None,
    teams: TeamLookup,
    default_branch: str,
    *,
    now: datetime | None = None,
    pagerduty: OnCallFacts | None = None,
) -> Verdict:
    """The verdict for one request file as it stands on the default branch, at `now` (default:
    the merge; only a break-glass request's ratification deadline depends on it). `pagerduty`:
    who PagerDuty had on call at the merge, for rules that ask (none: those rules are pending)."""
    path = request.path
    if pull is None:
        return Verdict(path, False, reasons=(
            "the file reached the default branch without a merged pull request (direct push): "
            "open a pull request for it",))
    if not pull.merged or pull.merged_at is None:
        return Verdict(path, False, reasons=(f"pull request #{pull.number} is not merged",),
                       pull=pull)
    if pull.base_ref != default_branch:
        return Verdict(path, False, pull=pull, reasons=(
            f"pull request #{pull.number} was merged into {pull.base_ref}, "
            f"not {default_branch}",))
    opener = opener_problem(request, pull, base_policies)
    if opener is not None:
        return Verdict(path, False, pull=pull, reasons=(opener,))
    mixed = mixes_requests_and_policy(pull.changed_files)
    if mixed:
        return Verdict(path, False, pull=pull, reasons=(
            f"pull request #{pull.number} changes requests together with {', '.join(mixed)}: "
            "policy changes and requests go in separate pull requests",))
    if base_policies is None:
        return Verdict(path, False, pull=pull, reasons=(
            "the base commit's policies cannot be read, so nothing can be approved",))
    entitlement = base_policies.entitlements.get(request.entitlement)
    if entitlement is None:
        return Verdict(path, False, pull=pull, reasons=(
            f"entitlement {request.entitlement!r} did not exist on the base commit",))
    # Judged by the base commit's policies at merge time: this bounds the window from the merge.
    judged = evaluate(base_policies, [request], pull.merged_at, teams=teams)
    errors = [f.message for f in judged.findings if f.severity is Severity.ERROR]
    if errors:
        return Verdict(path, False, pull=pull,
                       reasons=tuple(f"at merge time: {e}" for e in errors))
    if codeowners is None:
        return Verdict(path, False, pull=pull, reasons=(
            "the base commit has no CODEOWNERS file: run 'accessctl codeowners --write'",))
    unreadable = codeowners.unreadable_for(path)
    if unreadable:
        where = codeowners.file or "CODEOWNERS"
        return Verdict(path, False, pull=pull, reasons=tuple(
            f"{where} line {e.line} cannot be read ({e.message}) and could decide who owns "
            f"this file, so nothing is granted until it is fixed on {default_branch}"
            for e in unreadable))
    sections = codeowners.sections_for(path)
    owners = sorted({o for s in sections for o in s.owners})
    could = tuple(a for a in entitlement.approvers if _could_own(a, owners, teams))
    merged_at = pull.merged_at
    glass = break_glass.qualifies(entitlement, request, merged_at) \
        and path in (pull.added_files or ())
    due = break_glass.deadline(entitlement, merged_at) if glass else None
    counted: list[str] = []
    ignored: list[str] = []
    after_merge = False
    for _, review in sorted(latest_reviews(reviews).items()):
        why = _why_not_counted(review, pull, request, owners, entitlement.approvers, teams)
        if why is None and due is not None and review.submitted_at is not None \
                and review.submitted_at > due:
            why = f"approved at {isoformat(review.submitted_at)}, after the break-glass " \
                  f"review deadline {isoformat(due)}"
        if why is None:
            counted.append(review.login)
            after_merge |= review.submitted_at is not None and review.submitted_at > merged_at
        else:
            ignored.append(f"{review.login}: {why}")
    reasons: list[str] = []
    required = required_approvals(entitlement.approvals, entitlement.approvers_all_of)
    if len(counted) < required:
        needed = required - len(counted)
        reasons.append(
            f"needs {needed} more approval(s) on the final commit {pull.head_sha[:12]} from a "
            f"code owner in {', '.join(entitlement.approvers)}"
        )
    for group in unmatched_groups(counted, entitlement.approvers_all_of, teams):
        reasons.append(
            f"needs an approval from {' or '.join(group)} (approvers_all_of: each group needs "
            "its own approver, one person counts for one group only)"
        )
    for section in sections:
        # On GitLab every section is required unless optional, the lines before the first
        # heading too. An unnamed section alone (GitHub's file, or a GitLab file without
        # headings) is the code-owner check above: every counted approver is one of its owners.
        if section.optional or (section.name is None and len(sections) == 1):
            continue
        in_section = [c for c in counted if _owns(c, section.owners, teams)]
        if len(in_section) >= section.approvals:
            continue
        what = ("CODEOWNERS entries before the first section" if section.name is None
                else f"CODEOWNERS section [{section.name}]")
        if not section.owners:
            reasons.append(f"{what} give this file no owner anyone could be (GitLab would "
                           "skip such a rule; the engine does not): fix CODEOWNERS")
        else:
            reasons.append(f"{what} need{'s' if section.name else ''} {section.approvals} "
                           f"approval(s) from {', '.join(section.owners)}")
    reasons.extend(f"not counted: {i}" for i in ignored if reasons)
    if not reasons:
        ratified = glass and after_merge
        return Verdict(path, True, approvers=tuple(counted), could_approve=could, pull=pull,
                       break_glass="ratified" if ratified else None,
                       deadline=due if ratified else None)
    return _stand_in(Verdict(path, False, approvers=tuple(counted), reasons=tuple(reasons),
                             could_approve=could, pull=pull, lacked_approvals=True),
                     request, base_policies, merged_at, due, now, pagerduty)


def _stand_in(denied: Verdict, request: Request, policies: Policies, merged_at: datetime,
              due: datetime | None, now: datetime | None,
              pagerduty: OnCallFacts | None = None) -> Verdict:
    """What stands in for the missing reviews: an auto-approval rule, else break-glass until
    its deadline; otherwise `denied`, with why no rule applied."""
    entitlement = policies.entitlements[request.entitlement]
    results = judge_rules(entitlement, request, merged_at, policies.schedules,
                          people=policies.people, pagerduty=pagerduty)
    approving = next((r for r in results if r.applies), None)
    if approving is not None:
        # The rule is judged here, at every apply, from the base commit's policies: a bot's
        # review on the pull request is only its visible trace and never counts by itself.
        return dataclasses.replace(denied, approved=True, reasons=(),
                                   approved_by_rule=approving.rule.name, lacked_approvals=False,
                                   on_call=tuple(str(u) for u in approving.on_call))
    pending = next((r for r in results if r.pending), None)
    if pending is not None:
        denied = dataclasses.replace(denied, pending_rule=pending.rule.name)
    if any(a.error is not None for a in (pagerduty or {}).values()):
        # Who was on call could not be read: no settled fact about the approval, so a later
        # run judges it again instead of remembering this denial (approval/verify.py).
        denied = dataclasses.replace(denied, lacked_approvals=False)
    reasons = denied.reasons + tuple(
        f"auto-approval rule {r.rule.name} does not apply: {'; '.join(r.failed + r.unknown)}"
        for r in results)
    glass = entitlement.break_glass
    if due is None or glass is None:
        return dataclasses.replace(denied, reasons=reasons)
    if (now or merged_at) < due:
        return dataclasses.replace(denied, approved=True, break_glass="awaiting", deadline=due,
                                   lacked_approvals=False,
                                   reasons=tuple(f"ratification pending: {r}" for r in reasons))
    return dataclasses.replace(denied, break_glass="not-ratified", deadline=due, reasons=(
        f"break-glass not ratified: no code owner approved within "
        f"{format_duration(glass.review_within)} of the merge (deadline {isoformat(due)})",
        *reasons))


def required_approvals(approvals: int, groups: Sequence[Sequence[str]]) -> int:
    """Distinct approvers needed: `approvals`, and at least one per approvers_all_of group."""
    return max(approvals, len(groups))


def unmatched_groups(
    approvers: Sequence[str], groups: Sequence[Sequence[str]], teams: TeamLookup
) -> list[tuple[str, ...]]:
    """The approver groups left without an approver when each approver covers one group.

    A bipartite matching (augmenting paths): a person in two groups, say security and the
    service owners, cannot stand in for both, so two-party approval really takes two people.
    """
    candidates = [
        [a for a in approvers if is_member(a, group, teams)] for group in groups
    ]
    holder: dict[str, int] = {}

    def place(index: int, tried: set[str]) -> bool:
        for approver in candidates[index]:
            key = approver.casefold()
            if key in tried:
                continue
            tried.add(key)
            if key not in holder or place(holder[key], tried):
                holder[key] = index
                return True
        return False

    matched = {index for index in range(len(groups)) if place(index, set())}
    return [tuple(group) for index, group in enumerate(groups) if index not in matched]


def _could_own(approver: str, owners: Sequence[str], teams: TeamLookup) -> bool:
    if approver.startswith("@"):
        return approver.casefold() in {o.casefold() for o in owners}
    return _owns(approver, owners, teams)


def _why_not_counted(
    review: Review,
    pull: PullRequest,
    request: Request,
    owners: Sequence[str],
    approvers: Sequence[str],
    teams: TeamLookup,
) -> str | None:
    if review.state is not ReviewState.APPROVED:
        return f"latest review is {review.state.value}"
    if review.is_bot or review.login.casefold().endswith("[bot]"):
        return "bots do not approve access"
    login = review.login.casefold()
    # The pull request's author is the requester, or the request bot that opened it for them
    # (approval/on_behalf.py): neither approves.
    if login in (request.requester.casefold(), pull.author.casefold()):
        return "the requester cannot approve their own request"
    if review.commit_id != pull.head_sha:
        return review.note or "approved an earlier commit, not the final one"
    if not _owns(review.login, owners, teams):
        return "not a code owner of the file on the base commit"
    if not is_member(review.login, approvers, teams):
        return "not in the entitlement's approvers"
    return None


def at_merge(pull: PullRequest | None) -> datetime | None:
    return pull.merged_at if pull else None
