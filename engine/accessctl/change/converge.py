"""Shared flow of plan / apply / revoke: judge, observe, plan; then execute on --confirm."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from accessctl.change.holders import Holders, holders
from accessctl.change.ledger import Ledger, effective_managed, renamed, standing
from accessctl.change.plan import DEFAULT_REMOVAL_CAP, Plan, make_plan
from accessctl.change.runner import Observation, Providers, observe
from accessctl.core.model import Grant, Policies, Target, principal_key
from accessctl.judge.evaluate import Evaluation, target_of


@dataclass
class Converged:
    plan: Plan
    observation: Observation
    standing: list[Grant] = field(default_factory=list)
    """Wanted grants the person already holds without the engine: left as they are."""
    holders: dict[Target, Holders] = field(default_factory=dict)
    """Who holds each observed target, by name and by immutable id (for the ledger)."""
    renamed: dict[tuple[Target, str], str] = field(default_factory=dict)
    """(target, principal key the ledger recorded) -> the key its person holds it by now."""


def managed_targets(policies: Policies) -> dict[Target, str]:
    """Every target some entitlement grants on -> that entitlement's name."""
    result: dict[Target, str] = {}
    for entitlement in policies.entitlements.values():
        target = target_of(entitlement, policies)
        if target is not None:
            result.setdefault(target, entitlement.name)
    return result


def exclusive_targets(policies: Policies) -> set[Target]:
    return {
        target for entitlement in policies.entitlements.values()
        if entitlement.exclusive and (target := target_of(entitlement, policies)) is not None
    }


def converge(
    policies: Policies,
    evaluation: Evaluation,
    environ: Mapping[str, str],
    *,
    remove_unbacked: bool = False,
    removal_cap: float = DEFAULT_REMOVAL_CAP,
    providers: Providers | None = None,
    only: frozenset[str] = frozenset(),
    sweep_only: bool = False,
    ledgers: Mapping[str, Ledger] | None = None,
    observation: Observation | None = None,
) -> tuple[Converged, Providers]:
    """Observe every managed target (or those of the `only` instances) and plan.

    With `sweep_only` (the scheduled revoke) nothing an unexpired request names is revoked.
    With `ledgers` (the engine's record per instance), what the engine found standing is never
    revoked, and what it recorded as its own is, whatever the requests say now; and the ids it
    recorded find each person under the name they go by now (change/holders.py).
    With `observation` (and the `providers` that made it), the platforms are not read again:
    apply observes first, verifies what must change, then plans from the same observation.
    """
    made = providers or Providers(policies, environ)
    targets = {t: name for t, name in managed_targets(policies).items()
               if not only or t.instance in only}
    if observation is None:
        observation = observe(made, targets)
    seen = holders(observation.observed, observation.ids)
    managed: Mapping[tuple[Target, str], Sequence[str]] = evaluation.managed
    grants: list[Grant] = list(evaluation.grants)
    keep: Collection[tuple[Target, str]] = evaluation.unexpired if sweep_only else ()
    held: list[Grant] = []
    moved: dict[tuple[Target, str], str] = {}
    if ledgers is not None:
        managed = effective_managed(evaluation.managed, ledgers,
                                    {t.display: t for t in targets}, seen)
        held = standing(evaluation.grants, observation.observed, ledgers, seen)
        # A wanted (or kept) pair whose person the ledger finds under a new name is theirs
        # still: neither granted again under the old name nor revoked under the new one.
        moved = renamed(ledgers, seen)
        if moved:
            grants = [replace(g, principal=moved[(g.target, principal_key(g.principal))])
                      if (g.target, principal_key(g.principal)) in moved else g for g in grants]
            keep = [(t, moved.get((t, principal_key(p)), p)) for t, p in keep]
    plan = make_plan(
        grants, observation.observed, managed,
        exclusive=exclusive_targets(policies), remove_unbacked=remove_unbacked,
        removal_cap=removal_cap, native_expiry=observation.native, entitlement_of=targets,
        keep=keep, ids=observation.ids,
    )
    return Converged(plan, observation, held, seen, moved), made
