"""The policies of a repository: its provider instances (policies/providers.yaml, each
instance's settings checked against its platform's schema), identities, on-call schedules and
entitlements, with every finding on the way."""

from __future__ import annotations

from datetime import timedelta

from accessctl import schemas
from accessctl.core.durations import parse_duration
from accessctl.core.model import Finding, Policies, ProviderInstance, Rotation, Schedule, Shift
from accessctl.core.timestamps import parse_timestamp
from accessctl.read import session_controls
from accessctl.read.documents import documents_in, read_document
from accessctl.read.entitlements import load_entitlements
from accessctl.read.identities import load_identities
from accessctl.read.paths import PROVIDERS_FILE, SCHEDULES_DIR
from accessctl.read.schema_errors import findings as schema_findings
from accessctl.read.sources import FileSource
from accessctl.read.yamlfile import Document


def load_policies(source: FileSource) -> tuple[Policies | None, list[Finding]]:
    """Providers, identities and entitlements. None when they are not usable at all."""
    found: list[Finding] = []
    providers = _load_providers(source, found)
    people, teams, admins, limit, bots = load_identities(source, found)
    schedules = _load_schedules(source, found)
    entitlements = load_entitlements(source, providers, found, schedules)
    if providers is None or people is None:
        return None, found
    return Policies(entitlements, people, teams, providers, admins, limit, schedules,
                    bots), found


def _load_schedules(source: FileSource, found: list[Finding]) -> dict[str, Schedule]:
    """On-call schedules. A broken one is reported and left out, so the rules naming it
    approve nothing (fail closed)."""
    schedules: dict[str, Schedule] = {}
    for pure, document in documents_in(source, SCHEDULES_DIR, "schedule", found):
        schedule = _schedule(document, pure.stem, found)
        if schedule is not None:
            schedules[schedule.name] = schedule
    return schedules


def _schedule(document: Document, stem: str, found: list[Finding]) -> Schedule | None:
    data = document.data
    if data["name"] != stem:
        found.append(Finding(document.location(("name",)), "schedule-name",
                             f"name {data['name']!r} must equal the file name {stem!r}"))
        return None
    if "shifts" not in data and "rotation" not in data:
        found.append(Finding(document.location(), "schedule-empty",
                             f"schedule {stem} names nobody: add shifts or a rotation"))
        return None
    shifts: list[Shift] = []
    try:
        for index, raw in enumerate(data.get("shifts") or ()):
            where = ("shifts", index)
            start, end = parse_timestamp(raw["start"]), parse_timestamp(raw["end"])
            if end <= start:
                found.append(Finding(document.location((*where, "end")), "shift-order",
                                     "a shift's end must be after its start"))
                return None
            shifts.append(Shift(raw["who"], start, end))
        rotation = None
        if "rotation" in data:
            raw = data["rotation"]
            length = parse_duration(raw["length"])
            if length <= timedelta(0):
                found.append(Finding(document.location(("rotation", "length")), "bad-duration",
                                     "a rotation's length must be longer than zero"))
                return None
            rotation = Rotation(tuple(raw["members"]), parse_timestamp(raw["start"]), length)
    except ValueError as error:
        found.append(Finding(document.location(), "bad-schedule", f"{stem}: {error}"))
        return None
    return Schedule(stem, document.location(), tuple(shifts), rotation)


def _load_providers(source: FileSource, found: list[Finding]) -> dict[str, ProviderInstance] | None:
    from accessctl.providers import load_module

    document, problems = read_document(source, PROVIDERS_FILE, "providers")
    found.extend(problems)
    if document is None:
        return None
    instances: dict[str, ProviderInstance] = {}
    for name, raw in document.data["providers"].items():
        # The keys every instance has; the rest are the platform's own settings.
        settings = {k: v for k, v in raw.items() if k not in ("platform", "max_concurrency")}
        platform = raw["platform"]
        try:
            module = load_module(platform)
        except ImportError as error:
            found.append(Finding(document.location(("providers", name, "platform")),
                                 "platform-unavailable",
                                 f"the {platform} provider cannot be loaded: {error}"))
            continue
        errors = schemas.errors_for(module.SETTINGS_SCHEMA, settings)
        if errors:
            found.extend(
                schema_findings(document, errors, "schema-provider-settings",
                                ("providers", name))
            )
            continue
        lifetimes = session_controls.settings_findings(document, name, platform, settings)
        if lifetimes:
            found.extend(lifetimes)
            continue
        instances[name] = ProviderInstance(
            name, platform, settings, document.location(("providers", name)),
            max_concurrency=raw.get("max_concurrency"),
        )
    return instances
