"""Shared flow of plan / apply / revoke: judge, observe, plan; then execute on --confirm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from accessctl.change.ledger import Ledger, effective_managed, settling, standing
from accessctl.change.plan import DEFAULT_REMOVAL_CAP, Plan, make_plan
from accessctl.change.runner import Observation, Providers, observe
from accessctl.core.model import Change, Grant, Policies, Target
from accessctl.judge.evaluate import Evaluation, target_of


@dataclass
class Converged:
    plan: Plan
    observation: Observation
    standing: list[Grant] = field(default_factory=list)
    """Wanted grants the person already holds without the engine: left as they are."""
    settling: list[Change] = field(default_factory=list)
    """Changes the listing asked for that repeat a write the platform confirmed moments ago
    (its listing has not caught up): not made."""


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
    now: datetime | None = None,
) -> tuple[Converged, Providers]:
    """Observe every managed target (or those of the `only` instances) and plan.

    With `sweep_only` (the scheduled revoke) nothing an unexpired request names is revoked.
    With `ledgers` (the engine's record per instance), what the engine found standing is never
    revoked, and what it recorded as its own is, whatever the requests say now.
    """
    made = providers or Providers(policies, environ)
    targets = {t: name for t, name in managed_targets(policies).items()
               if not only or t.instance in only}
    observation = observe(made, targets)
    managed: Mapping[tuple[Target, str], Sequence[str]] = evaluation.managed
    held: list[Grant] = []
    if ledgers is not None:
        managed = effective_managed(evaluation.managed, ledgers,
                                    {t.display: t for t in targets})
        held = standing(evaluation.grants, observation.observed, ledgers)
    plan = make_plan(
        evaluation.grants, observation.observed, managed,
        exclusive=exclusive_targets(policies), remove_unbacked=remove_unbacked,
        removal_cap=removal_cap, native_expiry=observation.native, entitlement_of=targets,
        keep=evaluation.unexpired if sweep_only else (),
    )
    settled: list[Change] = []
    if ledgers is not None and now is not None:
        plan.changes, settled = settling(plan.changes, ledgers, now)
    return Converged(plan, observation, held, settled), made
