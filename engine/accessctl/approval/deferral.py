"""Requests whose approval the VCS could not be asked about in this run: deferred.

When the VCS is unreachable or its API budget is spent (`transport.VcsDeferral`), a request it
was needed for is neither granted nor revoked: the pair it names is kept as it is, the run says
so (audit outcome `deferred`, exit 1), and the next run asks again. Every other request is
handled as usual. This is not invariant 13's internal error, which fails closed (INVALID, its
grant revoked unless another request backs it): an outage or a budget says nothing about a
request, and revoking everyone's access because GitHub is down for ten minutes would turn the
VCS into a kill switch for production access. Any other error while verifying stays an
internal-error finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from accessctl.approval.approval import Verdict
from accessctl.approval.vcs.transport import VcsDeferral
from accessctl.approval.verify import Verifier
from accessctl.core.model import Finding, Policies, Request, Target, principal_key
from accessctl.judge.evaluate import Evaluation, TeamLookup
from accessctl.judge.isolation import internal_error

ELIGIBILITY_UNKNOWN = "eligibility-unknown"


class DeferringTeams:
    """A team look-up that never raises a `VcsDeferral`: a team the VCS could not name now is
    unknown (None), and remembered with why, so that the requests it decided are deferred."""

    def __init__(self, lookup: TeamLookup | None, policies: Policies, down: str | None) -> None:
        self._lookup = lookup
        self._policies = policies
        self._down = down
        self.unanswered: dict[str, str] = {}
        """Casefolded team name -> why the VCS could not say who is in it."""

    def __call__(self, name: str) -> frozenset[str] | None:
        key = name.casefold()
        if key in self._policies.teams:
            return self._policies.teams[key]
        if self._lookup is None:
            self.unanswered[key] = self._down or "the VCS is not available"
            return None
        try:
            return self._lookup(name)
        except VcsDeferral as error:
            self.unanswered[key] = str(error)
            return None


def teams_for_sweep(make: Callable[[], Verifier], policies: Policies) -> DeferringTeams:
    """The revoke sweep's team look-up: the VCS's answer where it gives one. Unanswered teams
    leave a request's eligibility unknown, which the sweep keeps (it only ends what expired)."""
    try:
        verifier = make()
    except VcsDeferral as error:
        return DeferringTeams(None, policies, str(error))
    return DeferringTeams(verifier.team_lookup(policies), policies, None)


def verify_each(requests: Iterable[Request], verify: Callable[[Request], Verdict] | None,
                down: str | None, doing: str = "verifying its approval",
                ) -> tuple[dict[str, Verdict], list[Finding], dict[str, str]]:
    """Each request's verdict by path; the internal-error findings of those that raised
    anything else; and the deferred ones, by path, with why. With `verify` None (no VCS client
    could be made: `down` says why), every request is deferred."""
    verdicts: dict[str, Verdict] = {}
    findings: list[Finding] = []
    deferred: dict[str, str] = {}
    for request in requests:
        if verify is None:
            deferred[request.path] = down or "the VCS is not available"
            continue
        try:
            verdicts[request.path] = verify(request)
        except VcsDeferral as error:
            deferred[request.path] = str(error)
        except Exception as error:  # one request never stops the run (invariant 13)
            findings.append(internal_error(request, doing, error))
    return verdicts, findings, deferred


def deferred_by_teams(evaluation: Evaluation, policies: Policies,
                      unanswered: Mapping[str, str], now: datetime) -> dict[str, str]:
    """Unexpired requests judged 'eligibility unknown' because a team they need went
    unanswered (an expired one backs nothing whoever is in the team: it is not deferred)."""
    found: dict[str, str] = {}
    if not unanswered:
        return found
    for path, judgement in evaluation.judgements.items():
        if judgement.request.expires_at <= now:
            continue
        if not any(f.code == ELIGIBILITY_UNKNOWN for f in judgement.findings):
            continue
        entitlement = policies.entitlements.get(judgement.request.entitlement)
        teams = [t.casefold() for t in (entitlement.eligible if entitlement else ())]
        why = next((unanswered[t] for t in teams if t in unanswered), None)
        if why is not None:
            found[path] = why
    return found


def held_pairs(evaluation: Evaluation, deferred: Iterable[str]) -> set[tuple[Target, str]]:
    """The (target, principal key) pairs the deferred requests name: kept as they are."""
    pairs: set[tuple[Target, str]] = set()
    for path in deferred:
        judgement = evaluation.judgements.get(path)
        if judgement is not None and judgement.target is not None \
                and judgement.principal is not None:
            pairs.add((judgement.target, principal_key(judgement.principal)))
    return pairs


def describe(path: str, why: str) -> str:
    return (f"{path}: its approval could not be verified now ({why}); its access is left as "
            "it is, and the next run verifies it")
