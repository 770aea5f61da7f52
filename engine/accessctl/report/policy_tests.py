"""Policy test cases (policies/tests/*.yaml): would this request be allowed, given these approvals?

Each case is judged the way apply judges a merged request, with nothing from the network: the
case's files are requests, each merged by its requester in a pull request of its own, reviewed
(approved on the final commit) by the case's `approvals`; the approval judge runs against the
repository's policies and CODEOWNERS, then the evaluator at the case's time. Pure but for the
caller's clock used to time the cases.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accessctl import schemas
from accessctl.approval.approval import judge_approval
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.core.model import Finding, Location, Policies, Request
from accessctl.core.timestamps import PATTERN as TIME_PATTERN
from accessctl.core.timestamps import parse_timestamp
from accessctl.judge.evaluate import State, evaluate, static_teams
from accessctl.read.load import MemorySource, load_request
from accessctl.read.schema_errors import findings as schema_findings
from accessctl.read.yamlfile import expect_mapping, parse

TESTS_DIR = "policies/tests"
HEAD = "0" * 39 + "1"
BRANCH = "main"
_LOGIN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$"

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Policy test cases",
    "type": "object",
    "additionalProperties": False,
    "required": ["cases"],
    "properties": {
        "cases": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "now", "files", "expect"],
                "properties": {
                    "name": {"type": "string", "minLength": 1,
                             "description": "What the case shows, printed with its result."},
                    "now": {"type": "string", "pattern": TIME_PATTERN,
                            "description": "RFC 3339 time the request is judged at."},
                    "merged_at": {"type": "string", "pattern": TIME_PATTERN,
                                  "description": "When the pull requests merged (default: now)."},
                    "files": {
                        "type": "object", "minProperties": 1,
                        "description": "Request files: repository path -> content. Other "
                                       "requests the same person holds go here too.",
                        "additionalProperties": {"type": "string"},
                    },
                    "request": {"type": "string",
                                "description": "The file judged, as the one proposed: the "
                                               "others are already on the branch (default: "
                                               "the only file)."},
                    "approvals": {"type": "array", "items": {"type": "string",
                                                             "pattern": _LOGIN},
                                  "uniqueItems": True,
                                  "description": "Logins approving every file's pull request."},
                    "teams": {"type": "object",
                              "description": "Teams the VCS would answer (@org/team -> logins).",
                              "additionalProperties": {"type": "array",
                                                       "items": {"type": "string"}}},
                    "expect": {"enum": ["allow", "deny"]},
                    "reason": {"type": "string", "minLength": 1,
                               "description": "With deny: text one of the reasons contains. "
                                              "With allow: text of how it was approved, e.g. "
                                              "'auto-approved by rule on-call-short' or "
                                              "'break-glass'."},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Case:
    name: str
    location: Location
    now: datetime
    files: Mapping[str, str]
    request: str
    expect_allow: bool
    approvals: tuple[str, ...] = ()
    reason: str | None = None
    merged_at: datetime | None = None
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    case: Case
    passed: bool
    allowed: bool
    reasons: tuple[str, ...]
    problem: str = ""
    """Why the case failed, in one line."""


def load_cases(path: str, raw: bytes) -> tuple[list[Case], list[Finding]]:
    """The cases of one test file, or the findings that stop it (with file and line)."""
    document, problems = parse(raw, path)
    if document is None:
        return [], problems
    problems = expect_mapping(document)
    if problems:
        return [], problems
    errors = list(schemas.validator_for(SCHEMA).iter_errors(document.data))
    if errors:
        return [], schema_findings(document, errors, "schema-policy-tests")
    cases: list[Case] = []
    found: list[Finding] = []
    for index, data in enumerate(document.data["cases"]):
        where = document.location(("cases", index))
        files = dict(data["files"])
        judged = data.get("request") or (next(iter(files)) if len(files) == 1 else None)
        if judged is None or judged not in files:
            found.append(Finding(where, "policy-test-request",
                                 f"case {data['name']!r}: 'request' must name one of its files"))
            continue
        try:
            now = parse_timestamp(data["now"])
            merged = parse_timestamp(data["merged_at"]) if "merged_at" in data else None
        except ValueError as error:
            found.append(Finding(where, "bad-time", f"case {data['name']!r}: {error}"))
            continue
        cases.append(Case(
            name=data["name"], location=where, now=now, files=files, request=judged,
            expect_allow=data["expect"] == "allow",
            approvals=tuple(data.get("approvals") or ()), reason=data.get("reason"),
            merged_at=merged,
            teams={k.casefold(): frozenset(m.casefold() for m in v)
                   for k, v in (data.get("teams") or {}).items()},
        ))
    return cases, found


def run_case(policies: Policies, codeowners: CodeOwners, case: Case) -> Outcome:
    allowed, reasons = judge_case(policies, codeowners, case)
    problem = ""
    if allowed != case.expect_allow:
        got = "allow" if allowed else "deny"
        want = "allow" if case.expect_allow else "deny"
        problem = f"expected {want}, got {got}"
    elif case.reason is not None and not any(case.reason.casefold() in r.casefold()
                                             for r in reasons):
        problem = f"no reason contains {case.reason!r}"
    return Outcome(case, not problem, allowed, tuple(reasons), problem)


def judge_case(policies: Policies, codeowners: CodeOwners, case: Case) -> tuple[bool, list[str]]:
    """Allowed (active or pending, approved) or not, and every reason given against it."""
    source = MemorySource(dict(case.files))
    requests: list[Request] = []
    reasons: list[str] = []
    for path in case.files:
        request, problems = load_request(source, path)
        if request is not None:
            requests.append(request)
        elif path == case.request:
            reasons.extend(f.message for f in problems)
    if reasons:
        return False, reasons
    static = static_teams(policies)

    def teams(name: str) -> frozenset[str] | None:
        return case.teams.get(name.casefold()) or static(name)

    merged = case.merged_at or case.now
    verdicts = {r.path: judge_approval(r, _pull(r, number, merged), _reviews(case, merged),
                                       policies, codeowners, teams, BRANCH, now=case.now)
                for number, r in enumerate(requests, start=1)}
    evaluation = evaluate(policies, requests, case.now, teams=teams, fresh=[case.request],
                          approved={p: v.approved for p, v in verdicts.items()})
    judgement = evaluation.judgements[case.request]
    reasons = [f.message for f in judgement.findings]
    if judgement.state is State.UNAPPROVED:
        reasons.extend(verdicts[case.request].reasons)
    if judgement.state is State.EXPIRED:
        reasons.append(f"expired at {judgement.request.expires_at:%Y-%m-%dT%H:%M:%SZ}")
    allowed = judgement.state in (State.ACTIVE, State.PENDING)
    if allowed:
        # How it was approved, so that a case can say which rule (or break-glass) allowed it.
        reasons.append(verdicts[case.request].how)
    return allowed, reasons


def _pull(request: Request, number: int, merged: datetime) -> PullRequest:
    """The pull request apply would find: opened by the requester, merged into the branch."""
    return PullRequest(
        number=number, url=f"policy-test://pull/{number}", author=request.requester,
        author_is_bot=False, head_sha=HEAD, base_ref=BRANCH, base_sha="0" * 40, merged=True,
        merged_at=merged, merge_commit_sha="0" * 38 + "ff", changed_files=(request.path,),
        added_files=(request.path,),
    )


def _reviews(case: Case, merged: datetime) -> list[Review]:
    return [Review(login, ReviewState.APPROVED, HEAD, merged) for login in case.approvals]


def select(cases: Sequence[Case], pattern: str | None) -> list[Case]:
    """Cases whose name matches the regular expression (all when None), as `opa test --run`."""
    if pattern is None:
        return list(cases)
    compiled = re.compile(pattern)
    return [c for c in cases if compiled.search(c.name)]
