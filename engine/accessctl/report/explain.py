"""Why one request is or is not allowed, rule by rule. Pure: the model and the time come in.

The verdict is the evaluator's own: every check that can fail is read off the findings
`evaluate` gives the request, so `explain` can never disagree with `validate` or `apply`. What
the evaluator does not judge offline (the reviews) is said as what will be required and who can
give it, from CODEOWNERS and the entitlement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from accessctl.approval.approval import code_owner, required_approvals
from accessctl.approval.codeowners import CodeOwners
from accessctl.core.durations import format_duration
from accessctl.core.model import (
    Entitlement,
    Finding,
    Policies,
    ProviderInstance,
    Request,
    isoformat,
)
from accessctl.judge import access_end, break_glass
from accessctl.judge.auto_approve import judge_rules, window_from
from accessctl.judge.controls import rule_terms
from accessctl.judge.evaluate import (
    Evaluation,
    Judgement,
    State,
    TeamLookup,
    conflicting,
    evaluate,
    peak_holding,
    static_teams,
)

RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("path", frozenset({"wrong-directory", "file-name", "request-path"})),
    ("entitlement", frozenset({"unknown-entitlement"})),
    ("requester", frozenset({"unknown-requester"})),
    ("eligible", frozenset({"not-eligible", "eligibility-unknown"})),
    ("identity", frozenset({"no-identity"})),
    ("window", frozenset({"window-order", "already-expired", "window-too-long"})),
    ("reason", frozenset({"reason-required"})),
    ("ticket", frozenset({"ticket-required", "ticket-pattern"})),
    ("duplicate", frozenset({"duplicate-request"})),
    ("conflicts", frozenset({"conflicting-access"})),
    ("limit", frozenset({"too-many-grants"})),
)
"""Each rule and the finding codes that mean it failed. A code not listed here still shows, as
rule 'other': nothing the evaluator says is hidden."""

LIVE = (State.ACTIVE, State.PENDING)


@dataclass(frozen=True)
class Check:
    rule: str
    ok: bool | None
    """True passed, False failed, None: information (judged later, on the merged pull request)."""
    detail: str


@dataclass(frozen=True)
class Explanation:
    path: str
    checks: tuple[Check, ...]
    state: str | None
    allowed: bool
    fully_ends_by: str | None = None
    """The expiry plus what outlives the revoke (judge/access_end.py), as in plan and status."""
    residual: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ends_how(instance: ProviderInstance, kind: str) -> tuple[bool, str]:
    """Whether the platform itself removes the grant at expires_at, and how it ends.

    A table, not a provider call: creating a provider reads its credentials and may import its
    SDK, which an offline explanation must not need. It follows DESIGN.md's platform table and
    each provider's `native_expiry`: GCP for every kind (IAM condition, membership expiry), Entra
    for PIM schedules only, GitLab as a day-granular backstop, AD only with TTL membership.
    """
    platform = instance.platform
    job = "the scheduled revoke job (accessctl revoke) removes it"
    if platform == "gcp":
        if kind == "group_membership" and instance.settings.get("membership_expiry") is False:
            return False, f"{job}: membership_expiry is false (no Cloud Identity Premium)"
        return True, f"GCP removes it itself at expires_at (IAM condition or membership expiry; " \
                     f"in effect within minutes, group memberships possibly longer); " \
                     f"{job} from its records afterwards"
    if platform == "entra" and kind in ("pim_group", "directory_role"):
        return True, f"Entra PIM ends the assignment schedule at expires_at; {job} afterwards"
    if platform == "gitlab":
        return True, f"{job} on time; GitLab's member expiry (a date) removes it by the end of " \
                     "that day as a backstop"
    if platform == "ad" and instance.settings.get("ttl_membership"):
        return True, f"the AD TTL membership lapses at expires_at; {job} afterwards"
    return False, f"{job}: {platform} ({kind}) cannot expire it by itself"


def explain(
    policies: Policies,
    requests: Sequence[Request],
    path: str,
    now: datetime,
    codeowners: CodeOwners | None,
    *,
    load_findings: Iterable[Finding] = (),
    teams: TeamLookup | None = None,
    fresh: Iterable[str] = (),
) -> Explanation:
    """Explain the request at `path`, judged with every request in `requests` (the rules about
    what one person holds at once look at the others)."""
    lookup = teams or static_teams(policies)
    unreadable = [f for f in load_findings if f.location.path == path]
    request = next((r for r in requests if r.path == path), None)
    if request is None:
        details = [f"{f.location}: {f.message}" for f in unreadable] or [
            f"{path} is not a request this repository holds"]
        return Explanation(path, tuple(Check("file", False, d) for d in details), None, False)
    evaluation = evaluate(policies, requests, now, teams=lookup, fresh=fresh)
    judgement = evaluation.judgements[path]
    checks = _rule_checks(policies, evaluation, judgement, now, lookup)
    allowed = judgement.state in LIVE
    checks.append(_state_check(judgement, now))
    entitlement = policies.entitlements.get(request.entitlement)
    if entitlement is not None:
        approval = _approval_check(request, entitlement, codeowners, lookup)
        controls = _control_checks(policies, request, entitlement, now)
        checks.append(approval)
        checks.extend(controls)
        # A rule or break-glass can stand in for the reviews nobody could give.
        stand_in = any(c.rule in ("auto-approve", "break-glass") and c.ok for c in controls)
        allowed = allowed and (approval.ok is not False or stand_in)
        instance = policies.providers.get(entitlement.provider)
        if instance is not None:
            _, how = ends_how(instance, entitlement.target_kind)
            left = request.expires_at - now
            when = f"in {format_duration(left)}" if left.total_seconds() > 0 else "already"
            ends = f"at {isoformat(request.expires_at)} ({when}): {how}"
            checks.append(Check("ends", None, ends))
            residual = access_end.for_entitlement(policies, entitlement)
            if residual is not None:
                checks.append(Check("fully-ends", None,
                                    access_end.sentence(request.expires_at, residual)))
                gone = isoformat(access_end.fully_ends_by(request.expires_at, residual))
                return Explanation(path, tuple(checks), judgement.state.value, allowed, gone,
                                   residual.as_dict())
    return Explanation(path, tuple(checks), judgement.state.value, allowed)


def _rule_checks(policies: Policies, evaluation: Evaluation, judgement: Judgement,
                 now: datetime, teams: TeamLookup) -> list[Check]:
    request = judgement.request
    entitlement = policies.entitlements.get(request.entitlement)
    known = {code for _, codes in RULES for code in codes}
    checks: list[Check] = []
    for rule, codes in RULES:
        failed = [f for f in judgement.findings if f.code in codes]
        if failed:
            checks.extend(Check(rule, False, f.message) for f in failed)
            continue
        if entitlement is None and rule not in ("path", "entitlement", "duplicate"):
            continue  # nothing to judge it by
        if rule in ("identity",) and policies.people.get(request.requester.casefold()) is None:
            continue
        if rule == "eligible" and policies.people.get(request.requester.casefold()) is None:
            continue
        checks.append(Check(rule, True, _passed(rule, policies, evaluation, judgement, now,
                                                teams)))
    checks.extend(Check("other", False, f"{f.message} [{f.code}]")
                  for f in judgement.findings if f.code not in known)
    return checks


def _passed(rule: str, policies: Policies, evaluation: Evaluation, judgement: Judgement,
            now: datetime, teams: TeamLookup) -> str:
    """The sentence for a rule the request passes: what was checked, and how it held."""
    request = judgement.request
    entitlement = policies.entitlements.get(request.entitlement)
    if rule == "path":
        return f"the file sits in access-requests/{request.entitlement}/ and its name starts " \
               f"with the requester {request.requester}"
    if rule == "duplicate":
        return "no other file asks for the same window"
    assert entitlement is not None
    if rule == "entitlement":
        target = judgement.target.display if judgement.target else entitlement.provider
        about = f": {entitlement.description}" if entitlement.description else ""
        return f"{entitlement.name}{about} (grants {target})"
    if rule == "requester":
        return f"{request.requester} is in policies/identities.yaml"
    if rule == "eligible":
        return f"{request.requester} may request it {_eligible_how(request, entitlement, teams)}"
    if rule == "identity":
        instance = policies.providers[entitlement.provider]
        return f"{request.requester} is {judgement.principal} on {instance.name} " \
               f"({instance.platform})"
    if rule == "window":
        start = isoformat(request.starts_at) if request.starts_at else "the merge"
        span = f"from {start} until {isoformat(request.expires_at)}"
        if request.expires_at <= now:
            return f"{span}: ended {format_duration(now - request.expires_at)} ago"
        later = request.starts_at is not None and request.starts_at > now
        begin = request.starts_at if later and request.starts_at else now
        return f"{span}: {format_duration(request.expires_at - begin)} counted from " \
               f"{'starts_at' if later else 'now'}, within max_duration " \
               f"{format_duration(entitlement.max_duration)} (apply counts from the merge)"
    if rule == "reason":
        return "a reason is given" if request.reason else "no reason required"
    if rule == "ticket":
        if request.ticket is None:
            return "no ticket required"
        pattern = entitlement.ticket_pattern
        return f"ticket {request.ticket}" + (f" matches {pattern}" if pattern else "")
    if rule == "conflicts":
        forbidden = sorted(conflicting(policies, entitlement.name))
        if not forbidden:
            return "no entitlement conflicts with this one (conflicts_with)"
        return f"not held together with {', '.join(forbidden)}: no valid request of " \
               f"{request.requester} for them overlaps this window"
    if rule == "limit":
        limit = policies.max_active_grants
        if limit is None:
            return "no per-person limit (limits.max_active_grants in policies/identities.yaml)"
        return f"{_peak(evaluation, judgement, now)} of at most {limit} entitlements held at once"
    raise AssertionError(rule)


def _eligible_how(request: Request, entitlement: Entitlement, teams: TeamLookup) -> str:
    login = request.requester.casefold()
    for name in entitlement.eligible:
        if not name.startswith("@") and name.casefold() == login:
            return f"by login ({name} is listed in eligible)"
    for name in entitlement.eligible:
        members = teams(name) if name.startswith("@") else None
        if members is not None and login in members:
            return f"as a member of {name}"
    return f"(eligible: {', '.join(entitlement.eligible)})"


def _peak(evaluation: Evaluation, judgement: Judgement, now: datetime) -> int:
    request = judgement.request
    person = request.requester.casefold()
    spans = []
    for other in evaluation.judgements.values():
        mine = other.request
        if mine.requester.casefold() == person and other.state in LIVE:
            start = max(mine.starts_at or now, now)
            spans.append((mine.entitlement, (start, mine.expires_at)))
    start = max(request.starts_at or now, now)
    return peak_holding(spans, (start, request.expires_at))[0]


def _state_check(judgement: Judgement, now: datetime) -> Check:
    request = judgement.request
    state = judgement.state
    if state is State.ACTIVE:
        return Check("state", True, "active: granted now, once approved")
    if state is State.PENDING:
        assert request.starts_at is not None
        return Check("state", True,
                     f"pending: granted at {isoformat(request.starts_at)}, once approved")
    if state is State.EXPIRED:
        return Check("state", False, f"expired at {isoformat(request.expires_at)}: it grants "
                     "nothing; write a new request (or move expires_at, which needs approval)")
    return Check("state", False, f"{state.value}: it grants nothing until the rules above pass")


def _control_checks(policies: Policies, request: Request, entitlement: Entitlement,
                    now: datetime) -> list[Check]:
    """Auto-approval and break-glass, judged as if the pull request merged at `now` (apply
    judges them at the real merge time, from the base commit's policies)."""
    checks = []
    for result in judge_rules(entitlement, request, now, policies.schedules):
        rule = result.rule
        if result.pending:
            checks.append(Check("auto-approve", None,
                                f"rule {rule.name} approves it if the requester is on call at "
                                f"the merge: {rule_terms(rule)}; PagerDuty is asked by apply"))
        elif result.applies:
            checks.append(Check("auto-approve", True,
                                f"rule {rule.name} approves it if merged now: "
                                f"{rule_terms(rule)}; judged again at the merge time, no "
                                "human approval needed"))
        else:
            checks.append(Check("auto-approve", None,
                                f"rule {rule.name} ({rule_terms(rule)}) does not apply if "
                                f"merged now: {'; '.join(result.failed + result.unknown)}"))
    glass = entitlement.break_glass
    if glass is not None:
        within = format_duration(glass.review_within)
        longest = format_duration(glass.max_duration)
        if break_glass.qualifies(entitlement, request, now):
            checks.append(Check(
                "break-glass", True,
                f"granted on merge without prior approval (window at most {longest} from the "
                f"merge); the code owners must approve the pull request within {within} of "
                f"the merge (by {isoformat(now + glass.review_within)} if merged now), or the "
                "grant is revoked; the security team is alerted"))
        else:
            window = format_duration(window_from(request, now))
            checks.append(Check(
                "break-glass", None,
                f"the window ({window} from now) is longer than break-glass allows "
                f"({longest}): it needs the approval above before it is granted"))
    return checks


def _approval_check(request: Request, entitlement: Entitlement, codeowners: CodeOwners | None,
                    teams: TeamLookup) -> Check:
    required = required_approvals(entitlement.approvals, entitlement.approvers_all_of)
    wanted = f"{required} distinct approver(s) from {', '.join(entitlement.approvers)}"
    for group in entitlement.approvers_all_of:
        wanted += f"; one from {' or '.join(group)}"
    if codeowners is None:
        return Check("approval", False, f"needs {wanted}, but there is no CODEOWNERS file, so "
                     "nothing can be approved: run 'accessctl codeowners --write'")
    owners = codeowners.owners(request.path)
    who, unresolved = _possible_approvers(request, entitlement.approvers, owners, teams)
    if not owners:
        return Check("approval", False, f"needs {wanted}, but CODEOWNERS gives {request.path} "
                     "no owner: run 'accessctl codeowners --write'")
    people = ", ".join(who) if who else "nobody known offline"
    if unresolved:
        people += f"; members of {', '.join(unresolved)} (read from the VCS at apply)"
    sentence = (f"needs {wanted}, each a code owner of the file ({', '.join(owners)}), never the "
                f"requester, approving the pull request's final commit; who may approve: "
                f"{people}")
    short = [g for g in entitlement.approvers_all_of
             if _possible_approvers(request, g, owners, teams) == ([], [])]
    if short or (not unresolved and len(who) < required):
        return Check("approval", False, sentence + ": not enough people can approve it")
    return Check("approval", None, sentence + " (the reviews are judged at apply)")


def _possible_approvers(request: Request, approvers: Sequence[str], owners: Sequence[str],
                        teams: TeamLookup) -> tuple[list[str], list[str]]:
    """Logins that could approve (in `approvers`, code owners, not the requester), and the
    approver teams whose members are only known to the VCS."""
    logins: set[str] = set()
    unresolved: list[str] = []
    for name in approvers:
        if not name.startswith("@"):
            logins.add(name.casefold())
            continue
        members = teams(name)
        if members is None:
            unresolved.append(name)
        else:
            logins.update(members)
    requester = request.requester.casefold()
    who = sorted(login for login in logins
                 if login != requester and code_owner(login, owners, teams))
    return who, unresolved
