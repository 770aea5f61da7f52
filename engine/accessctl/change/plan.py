"""Desired grants vs observed members -> changes. Pure set algebra, no I/O.

Guard rails are checked here, on the plan, before anything is mutated: the engine never removes a
member it does not manage, except on exclusive targets when asked to, and then no more than a cap.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from accessctl.core.model import Action, Change, Grant, Target, principal_key

DEFAULT_REMOVAL_CAP = 0.25


@dataclass(frozen=True)
class Drift:
    """A member of a managed target that no request backs and the engine leaves alone."""

    target: Target
    principal: str


@dataclass(frozen=True)
class Refusal:
    target: Target
    message: str


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def grants(self) -> list[Change]:
        return [c for c in self.changes if c.action is Action.GRANT]

    @property
    def revocations(self) -> list[Change]:
        return [c for c in self.changes if c.action is Action.REVOKE]


def make_plan(
    desired: Iterable[Grant],
    observed: Mapping[Target, frozenset[str]],
    managed: Collection[tuple[Target, str]] | Mapping[tuple[Target, str], Sequence[str]],
    *,
    exclusive: Collection[Target] = (),
    remove_unbacked: bool = False,
    removal_cap: float = DEFAULT_REMOVAL_CAP,
    native_expiry: Mapping[Target, bool] | None = None,
    entitlement_of: Mapping[Target, str] | None = None,
    keep: Collection[tuple[Target, str]] = (),
    ids: Mapping[Target, Mapping[str, str]] | None = None,
) -> Plan:
    """Changes that make `observed` match `desired` on the targets in `observed`.

    Targets missing from `observed` could not be read; nothing is planned for them.
    `managed` holds (target, principal key) pairs that some request names: only those are
    revoked when no active request backs them (given as a mapping, to the paths of the requests
    that named them, which their revoke changes carry). With `remove_unbacked`, members of
    `exclusive` targets that nothing backs are removed too, unless that would remove more than
    `removal_cap` of a target's members, in which case that target gets a refusal instead.
    Pairs in `keep` are never revoked (the sweep keeps what an unexpired request names).
    `ids` gives, per target, the immutable id observe read for each member: a revoke carries
    it, so that the platform removes that very person, whatever name they go by by then.
    """
    plan = Plan()
    native = native_expiry or {}
    names = entitlement_of or {}
    wanted: dict[tuple[Target, str], Grant] = {}
    for grant in desired:
        wanted[(grant.target, principal_key(grant.principal))] = grant
    for (target, key), grant in sorted(wanted.items(), key=lambda kv: (kv[0][0].display, kv[0][1])):
        members = observed.get(target)
        if members is None or key in members:
            continue
        plan.changes.append(Change(
            action=Action.GRANT, target=target, principal=grant.principal,
            entitlement=grant.entitlement,
            why=f"requested by {grant.person} in {', '.join(grant.requests)}",
            person=grant.person, expires_at=grant.expires_at, requests=grant.requests,
            native_expiry=native.get(target, False),
        ))
    named_by: dict[tuple[Target, str], tuple[str, ...]] = {}
    for t, p in managed:
        paths = managed[(t, p)] if isinstance(managed, Mapping) else ()
        key_pair = (t, principal_key(p))
        named_by[key_pair] = tuple(sorted({*named_by.get(key_pair, ()), *paths}))
    managed_keys = set(named_by)
    kept = {(t, principal_key(p)) for t, p in keep}
    exclusive_set = set(exclusive)
    known = ids or {}
    for target in sorted(observed, key=lambda t: t.display):
        members = observed[target]
        id_of = known.get(target, {})
        unbacked = []
        for member in sorted(members):
            if (target, member) in wanted or (target, member) in kept:
                continue
            entitlement = names.get(target, "")
            if (target, member) in managed_keys:
                plan.changes.append(Change(
                    action=Action.REVOKE, target=target, principal=member,
                    entitlement=entitlement,
                    why="no unexpired approved request backs this grant",
                    requests=named_by[(target, member)], principal_id=id_of.get(member),
                ))
            elif remove_unbacked and target in exclusive_set:
                unbacked.append(member)
            else:
                plan.drift.append(Drift(target, member))
        if not unbacked:
            continue
        if members and len(unbacked) / len(members) > removal_cap:
            plan.refusals.append(Refusal(
                target,
                f"removing {len(unbacked)} of {len(members)} members of {target.display} "
                f"exceeds the cap of {removal_cap:.0%}; nothing was removed there: check the "
                "target, then raise --removal-cap if this is intended",
            ))
            plan.drift.extend(Drift(target, m) for m in unbacked)
            continue
        for member in unbacked:
            plan.changes.append(Change(
                action=Action.REVOKE, target=target, principal=member,
                entitlement=names.get(target, ""),
                why="exclusive entitlement: no request backs this member",
                principal_id=id_of.get(member),
            ))
    return plan
