"""Entitlements (policies/entitlements/<name>.yaml): each checked against its provider's target
kinds and its controls (auto-approval rules, break-glass) read; a broken one is reported and
left out, so it never grants on a looser reading."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta

from accessctl import schemas
from accessctl.core.durations import parse_duration
from accessctl.core.model import (
    AutoApproveRule,
    BreakGlass,
    BusinessHours,
    Entitlement,
    Finding,
    PagerDutyOnCall,
    ProviderInstance,
    Schedule,
)
from accessctl.read import session_controls
from accessctl.read.documents import documents_in
from accessctl.read.paths import ENTITLEMENTS_DIR, PROVIDERS_FILE, SCHEDULES_DIR
from accessctl.read.schema_errors import findings as schema_findings
from accessctl.read.sources import FileSource
from accessctl.read.yamlfile import Document


def load_entitlements(
    source: FileSource,
    providers: Mapping[str, ProviderInstance] | None,
    found: list[Finding],
    schedules: Mapping[str, Schedule] | None = None,
) -> dict[str, Entitlement]:
    """Every entitlement, valid against its provider's target kind and with its controls read
    (`providers` None: the providers file was not usable, so targets are not checked)."""
    from accessctl.providers import load_module

    entitlements: dict[str, Entitlement] = {}
    for pure, document in documents_in(source, ENTITLEMENTS_DIR, "entitlement", found):
        data = document.data
        name = data["name"]
        if name != pure.stem:
            found.append(Finding(document.location(("name",)), "entitlement-name",
                                 f"name {name!r} must equal the file name {pure.stem!r}"))
            continue
        if name in entitlements:
            found.append(Finding(document.location(("name",)), "duplicate-entitlement",
                                 f"entitlement {name!r} is defined twice"))
            continue
        target = dict(data["target"])
        kind = target.pop("kind")
        if providers is not None:
            instance = providers.get(data["provider"])
            if instance is None:
                found.append(Finding(
                    document.location(("provider",)), "unknown-provider",
                    f"provider {data['provider']!r} is not in {PROVIDERS_FILE} "
                    f"(known: {', '.join(sorted(providers)) or 'none'})",
                ))
                continue
            module = load_module(instance.platform)
            if kind not in module.TARGET_SCHEMAS:
                found.append(Finding(
                    document.location(("target", "kind")), "unknown-target-kind",
                    f"{instance.platform} has no target kind {kind!r} "
                    f"(known: {', '.join(sorted(module.TARGET_SCHEMAS))})",
                ))
                continue
            errors = list(schemas.validator_for(module.TARGET_SCHEMAS[kind]).iter_errors(target))
            if errors:
                found.extend(schema_findings(document, errors, "schema-target", ("target",)))
                continue
            refused = session_controls.end_sessions_finding(document, instance, kind)
            if refused is not None:
                found.append(refused)  # left out: a revoke must do what its policy says
                continue
        pattern = data.get("ticket_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                found.append(Finding(document.location(("ticket_pattern",)), "bad-pattern",
                                     f"ticket_pattern is not a regular expression: {error}"))
                continue
        try:
            max_duration = parse_duration(data["max_duration"])
        except ValueError as error:
            found.append(Finding(document.location(("max_duration",)), "bad-duration", str(error)))
            continue
        if max_duration <= timedelta(0):
            found.append(Finding(document.location(("max_duration",)), "bad-duration",
                                 "max_duration must be longer than zero"))
            continue
        groups = tuple(tuple(g) for g in data.get("approvers_all_of") or ())
        approvers = {a.casefold() for a in data["approvers"]}
        outside = sorted({n for g in groups for n in g if n.casefold() not in approvers})
        if outside:
            # Only the approvers become code owners; anyone else could never approve.
            found.append(Finding(
                document.location(("approvers_all_of",)), "approver-group",
                f"approvers_all_of names {', '.join(outside)}, not in approvers: add them there"))
            continue
        controls = _controls(document, max_duration, schedules or {}, found)
        if controls is None:
            continue
        entitlements[name] = Entitlement(
            name=name,
            description=data.get("description", ""),
            provider=data["provider"],
            target_kind=kind,
            target_params=target,
            eligible=tuple(data["eligible"]),
            approvers=tuple(data["approvers"]),
            approvals=int(data.get("approvals", 1)),
            max_duration=max_duration,
            require_reason=bool(data.get("require_reason", True)),
            require_ticket=bool(data.get("require_ticket", False)),
            ticket_pattern=pattern,
            exclusive=bool(data.get("exclusive", False)),
            native_expiry=False,
            location=document.location(),
            approvers_all_of=groups,
            conflicts_with=tuple(data.get("conflicts_with") or ()),
            auto_approve=controls[0],
            break_glass=controls[1],
            end_sessions=data.get("end_sessions") is True,
        )
    for entitlement in entitlements.values():
        # A misspelt name would silently switch separation of duties off.
        for other in entitlement.conflicts_with:
            if other not in entitlements or other == entitlement.name:
                found.append(Finding(
                    entitlement.location, "unknown-conflict",
                    f"{entitlement.name}: conflicts_with names {other!r}, which is "
                    f"{'itself' if other == entitlement.name else 'not an entitlement'}"))
    return entitlements


def _controls(
    document: Document, max_duration: timedelta, schedules: Mapping[str, Schedule],
    found: list[Finding],
) -> tuple[tuple[AutoApproveRule, ...], BreakGlass | None] | None:
    """auto_approve and break_glass of one entitlement (None: reported, entitlement left out,
    so a broken control never grants on a looser reading)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    data = document.data
    rules: list[AutoApproveRule] = []
    names: set[str] = set()
    for index, raw in enumerate(data.get("auto_approve") or ()):
        where = ("auto_approve", index)
        if raw["name"] in names:
            found.append(Finding(document.location((*where, "name")), "duplicate-rule",
                                 f"auto_approve has two rules named {raw['name']!r}"))
            return None
        names.add(raw["name"])
        try:
            window = parse_duration(raw["max_duration"])
        except ValueError as error:
            found.append(Finding(document.location((*where, "max_duration")), "bad-duration",
                                 str(error)))
            return None
        if window <= timedelta(0):
            found.append(Finding(document.location((*where, "max_duration")), "bad-duration",
                                 "an auto-approval rule's max_duration must be longer than zero"))
            return None
        schedule = raw.get("requester_on_call")
        pagerduty = None
        if isinstance(schedule, dict):
            spec = schedule["pagerduty"]
            pagerduty = PagerDutyOnCall(tuple(spec.get("schedule_ids") or ()),
                                        tuple(spec.get("escalation_policy_ids") or ()))
            schedule = None
            if not pagerduty.schedule_ids and not pagerduty.escalation_policy_ids:
                found.append(Finding(
                    document.location((*where, "requester_on_call", "pagerduty")),
                    "pagerduty-on-call",
                    "requester_on_call.pagerduty needs schedule_ids or escalation_policy_ids "
                    "(a rule that names no on-call would approve nobody)"))
                return None
        if schedule is not None and schedule not in schedules:
            # A misspelt schedule would make the rule approve nobody, silently.
            found.append(Finding(
                document.location((*where, "requester_on_call")), "unknown-schedule",
                f"schedule {schedule!r} is not in {SCHEDULES_DIR}/ (known: "
                f"{', '.join(sorted(schedules)) or 'none'}): add "
                f"{SCHEDULES_DIR}/{schedule}.yaml or fix the name"))
            return None
        hours = None
        if "business_hours" in raw:
            spec = raw["business_hours"]
            try:
                ZoneInfo(spec["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                found.append(Finding(
                    document.location((*where, "business_hours", "timezone")), "bad-timezone",
                    f"{spec['timezone']!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"))
                return None
            start, end = _clock(spec["start"]), _clock(spec["end"])
            if end <= start:
                found.append(Finding(
                    document.location((*where, "business_hours", "end")), "hours-order",
                    "business_hours end must be after start (hours across midnight: use two "
                    "rules)"))
                return None
            days = frozenset(_DAYS.index(d) + 1 for d in spec["days"])
            hours = BusinessHours(days, start, end, spec["timezone"])
        rules.append(AutoApproveRule(raw["name"], window, document.location(where),
                                     schedule, hours, pagerduty))
    glass = None
    if "break_glass" in data:
        raw = data["break_glass"]
        try:
            short, within = parse_duration(raw["max_duration"]), parse_duration(
                raw["review_within"])
        except ValueError as error:
            found.append(Finding(document.location(("break_glass",)), "bad-duration",
                                 f"break_glass: {error}"))
            return None
        if not timedelta(0) < short <= max_duration or within <= timedelta(0):
            found.append(Finding(
                document.location(("break_glass",)), "break-glass-window",
                "break_glass.max_duration must be longer than zero and at most the "
                "entitlement's max_duration, and review_within longer than zero"))
            return None
        glass = BreakGlass(short, within)
    return tuple(rules), glass


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(text: str) -> time:
    """HH:MM (the schema checked the form); 24:00 is the end of the day."""
    hour, minute = (int(part) for part in text.split(":"))
    return time.max if hour == 24 else time(hour, minute)
