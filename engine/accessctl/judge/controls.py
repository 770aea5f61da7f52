"""Sentences about an entitlement's auto-approval rules and break-glass, for plan and status.

Offline views cannot know a request's merge time or reviews, so they state the entitlement's
terms; `accessctl report` (which reads the VCS) gives each request's rule or deadline.
"""

from __future__ import annotations

from accessctl.core.durations import format_duration
from accessctl.core.model import AutoApproveRule, Entitlement
from accessctl.judge.auto_approve import describe_hours


def rule_terms(rule: AutoApproveRule) -> str:
    terms = [f"at most {format_duration(rule.max_duration)} from the merge"]
    if rule.requester_on_call:
        terms.append(f"requester on call in {rule.requester_on_call}")
    if rule.on_call_pagerduty:
        terms.append(f"requester on call in {rule.on_call_pagerduty.describe()} (asked at "
                     "apply)")
    if rule.business_hours:
        terms.append(f"merged within {describe_hours(rule.business_hours)}")
    return ", ".join(terms)


def describe(entitlement: Entitlement) -> list[str]:
    """One sentence per control the entitlement has (none: [])."""
    lines = [f"auto-approved by rule {rule.name} when {rule_terms(rule)}"
             for rule in entitlement.auto_approve]
    glass = entitlement.break_glass
    if glass is not None:
        lines.append(
            f"break-glass: granted on merge without approval for windows up to "
            f"{format_duration(glass.max_duration)}; revoked {format_duration(glass.review_within)}"
            " after the merge unless the code owners approve (accessctl report shows each "
            "deadline)")
    return lines
