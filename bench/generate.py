"""Write a synthetic access repository for the performance bench.

Deterministic for a given seed: the same arguments write byte-identical files. Every request is
valid at `--now` (eligible requester, ticket where required, window within the maximum), spread
over active, expired and pending windows, so that the engine does its full work on each file and
the bench measures the clean path that a large, healthy repository takes every day.

    python bench/generate.py OUT [--requests 10000] [--entitlements 500] [--people 5000]
                                 [--now 2026-11-23T10:00:00Z] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_NOW = "2026-11-23T10:00:00Z"
TEAM_SIZE = 100
STATES = ("active", "expired", "pending")
REASONS = (
    "Investigate elevated 5xx on checkout",
    "Rotate the deploy key after the incident",
    "Quarter-end cost review",
    "Debug the nightly export job",
    "Cover the on-call shift",
)


@dataclass(frozen=True)
class Shape:
    requests: int = 10_000
    entitlements: int = 500
    people: int = 5_000
    seed: int = 0


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_now(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def login(index: int) -> str:
    return f"user-{index:05d}"


def team_count(people: int) -> int:
    return max(1, (people + TEAM_SIZE - 1) // TEAM_SIZE)


def team_members(team: int, people: int) -> list[int]:
    return list(range(team * TEAM_SIZE, min(people, (team + 1) * TEAM_SIZE)))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def providers_yaml(block: str) -> str:
    return f"providers:\n{block}"


def identities_yaml(people: int, account_key: str, account: str = "{login}") -> str:
    """People with one account each; teams of TEAM_SIZE consecutive people."""
    lines = ["people:"]
    for index in range(people):
        name = login(index)
        lines.append(f"  {name}: {{{account_key}: {account.format(login=name)}}}")
    lines.append("teams:")
    for team in range(team_count(people)):
        members = ", ".join(login(i) for i in team_members(team, people))
        lines.append(f'  "@bench/team-{team:03d}": [{members}]')
    lines.append('  "@bench/approvers": [user-00000]')
    lines.append('admins: ["@bench/approvers"]')
    return "\n".join(lines) + "\n"


def entitlement_name(index: int) -> str:
    return f"ent-{index:04d}"


def entitlement_yaml(index: int, provider: str, target: str, teams: int) -> str:
    """Entitlement `index` is open to team `index % teams`; every third requires a ticket."""
    ticket = index % 3 == 0
    return (
        f"name: {entitlement_name(index)}\n"
        f"description: Synthetic entitlement {index} for the bench.\n"
        f"provider: {provider}\n"
        f"target:\n{target}"
        f'eligible: ["@bench/team-{index % teams:03d}"]\n'
        'approvers: ["@bench/approvers"]\n'
        "approvals: 1\n"
        "max_duration: 8h\n"
        "require_reason: true\n"
        f"require_ticket: {'true' if ticket else 'false'}\n"
        + ('ticket_pattern: "^INC-[0-9]+$"\n' if ticket else "")
    )


def request_yaml(requester: str, entitlement: str, reason: str, ticket: str | None,
                 starts: datetime | None, expires: datetime) -> str:
    text = (
        "# yaml-language-server: $schema=../../schemas/access-request.schema.json\n"
        f"requester: {requester}\nentitlement: {entitlement}\nreason: {reason}\n"
    )
    if ticket:
        text += f"ticket: {ticket}\n"
    if starts is not None:
        text += f"starts_at: {stamp(starts)}\n"
    return text + f"expires_at: {stamp(expires)}\n"


def window(state: str, now: datetime, rng: random.Random) -> tuple[datetime | None, datetime]:
    """A window in `state` at `now`, at most 4 hours long (the maximum is 8h)."""
    minutes = rng.randrange(30, 240)
    if state == "active":
        starts = now - timedelta(minutes=rng.randrange(1, minutes))
        return (starts if rng.random() < 0.7 else None), starts + timedelta(minutes=minutes)
    if state == "expired":
        starts = now - timedelta(days=rng.randrange(1, 90), minutes=rng.randrange(0, 1440))
        return starts, starts + timedelta(minutes=minutes)
    starts = now + timedelta(days=rng.randrange(1, 14), minutes=rng.randrange(0, 1440))
    return starts, starts + timedelta(minutes=minutes)


def generate(root: Path, shape: Shape = Shape(), now: datetime | None = None) -> list[str]:
    """Write the repository under `root`; return the request paths (repository-relative)."""
    moment = now or parse_now(DEFAULT_NOW)
    rng = random.Random(shape.seed)
    teams = team_count(shape.people)
    write_text(root / "policies" / "providers.yaml", providers_yaml(
        "  aws-bench:\n    platform: aws\n    region: us-east-1\n"))
    write_text(root / "policies" / "identities.yaml", identities_yaml(shape.people, "aws"))
    for index in range(shape.entitlements):
        target = f"  kind: iam_group\n  group: g-{index}\n"
        write_text(root / "policies" / "entitlements" / f"{entitlement_name(index)}.yaml",
                   entitlement_yaml(index, "aws-bench", target, teams))
    paths = []
    for number in range(shape.requests):
        index = number % shape.entitlements
        members = team_members(index % teams, shape.people)
        requester = login(rng.choice(members))
        state = STATES[number % len(STATES)]
        starts, expires = window(state, moment, rng)
        ticket = f"INC-{number}" if index % 3 == 0 or rng.random() < 0.3 else None
        name = entitlement_name(index)
        path = f"access-requests/{name}/{requester}-r{number:05d}.yaml"
        write_text(root / path, request_yaml(requester, name, rng.choice(REASONS), ticket,
                                             starts, expires))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--requests", type=int, default=Shape.requests)
    parser.add_argument("--entitlements", type=int, default=Shape.entitlements)
    parser.add_argument("--people", type=int, default=Shape.people)
    parser.add_argument("--seed", type=int, default=Shape.seed)
    parser.add_argument("--now", default=DEFAULT_NOW)
    args = parser.parse_args(argv)
    if args.people < 1 or args.entitlements < 1 or args.requests < 0:
        parser.error("--people and --entitlements must be at least 1, --requests at least 0")
    shape = Shape(args.requests, args.entitlements, args.people, args.seed)
    paths = generate(args.out, shape, parse_now(args.now))
    print(f"wrote {len(paths)} requests, {shape.entitlements} entitlements, "
          f"{shape.people} people under {args.out}")


if __name__ == "__main__":
    main()
