"""Invariant 13: one file never stops the run.

A request whose times sit at the ends of the calendar, or whose judging raises for any other
reason, is a finding against that file; every other request is still granted or revoked, and no
input makes a run exit 3. End to end against moto (and the GitHub emulator for approvals), plus
the pure judges as tables for values that only a bug could let past the loader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.approval.ratification import sweep
from accessctl.approval.verify import Verifier
from accessctl.core import timestamps
from accessctl.core.errors import ConfigError
from accessctl.core.model import Policies, Request
from accessctl.core.timestamps import parse_timestamp
from accessctl.judge.evaluate import State, evaluate
from accessctl.providers.gitlab import backstop_date
from accessctl.read import yamlfile
from accessctl.read.load import MemorySource, load_policies, load_request

from tests.cli_runner import invoke
from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, request, write_repo
from tests.servers import moto_server

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THREE_PM = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
GLASS = "break_glass:\n  max_duration: 2h\n  review_within: 30m\n"
HOSTILE = "access-requests/break-glass/bob-x.yaml"
ORDINARY = "access-requests/prod-admin/alice-inc.yaml"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def iam(endpoint: str) -> Any:
    return moto_server.fresh_iam(moto_server.client("iam", endpoint),
                                 ("prod-admins", "break-glass"), ("alice", "bob", "carol"))


def members(iam: Any, group: str) -> set[str]:
    return {u["UserName"] for u in iam.get_group(GroupName=group)["Users"]}


def with_break_glass(root: Path) -> Path:
    entitlement = root / "policies" / "entitlements" / "break-glass.yaml"
    entitlement.write_text(entitlement.read_text() + GLASS)
    return root


# -- the attack: a timestamp at the start of the calendar on a break-glass entitlement ----------

@pytest.mark.parametrize("moment", ["0001-01-01T00:30:00Z", '"0001-01-01T00:30:00Z"',
                                    "9999-12-31T23:59:00Z"])
def test_a_hostile_timestamp_does_not_stop_the_revoke_sweep(
    tmp_path: Path, endpoint: str, iam: Any, moment: str
) -> None:
    repo = with_break_glass(write_repo(tmp_path / "repo", endpoint, requests={
        ORDINARY: request("alice", "prod-admin", "2026-11-23T12:00:00Z"),
        HOSTILE: request("bob", "break-glass", moment),
    }))
    iam.add_user_to_group(GroupName="prod-admins", UserName="alice")
    sweep_run = invoke("revoke", "--repo", str(repo), "--confirm",
                       "--audit-file", str(tmp_path / "audit.jsonl"), now=THREE_PM)
    assert sweep_run.code == 1, sweep_run.err
    assert "internal error" not in sweep_run.err
    # The ordinary expired grant is gone all the same ...
    assert members(iam, "prod-admins") == set()
    assert [(e["action"], e["principal"], e["outcome"]) for e in sweep_run.events()] == [
        ("revoke", "alice", "done")]
    # ... and the hostile file is named, at its line, with what to do.
    line = next(x for x in sweep_run.err.splitlines() if HOSTILE in x)
    assert f"{HOSTILE}:5:" in line, sweep_run.err
    assert "outside 2000-2999" in line and "write a real date" in line, line


def test_the_dry_run_sweep_reports_the_hostile_file_too(tmp_path: Path, endpoint: str,
                                                        iam: Any) -> None:
    repo = with_break_glass(write_repo(tmp_path / "repo", endpoint, requests={
        ORDINARY: request("alice", "prod-admin", "2026-11-23T12:00:00Z"),
        HOSTILE: request("bob", "break-glass", "0001-01-01T00:30:00Z"),
    }))
    iam.add_user_to_group(GroupName="prod-admins", UserName="alice")
    dry = invoke("revoke", "--repo", str(repo), now=THREE_PM)
    assert dry.code == 1, dry.err
    assert f"{HOSTILE}:5:" in dry.err and "revoke" in dry.err
    assert members(iam, "prod-admins") == {"alice"}


# -- timestamps are bounded where they are parsed ------------------------------------------------

OUTSIDE = ["0001-01-01T00:30:00Z", "0001-01-01T00:30:00+01:00", "1999-12-31T23:59:59Z",
           "3000-01-01T00:00:00Z", "9999-12-31T23:59:00-01:00", "9999-12-31T23:59:59Z",
           "2000-01-01T00:30:00+01:00", "2999-12-31T23:30:00-01:00"]


@pytest.mark.parametrize("moment", OUTSIDE)
def test_a_time_outside_the_supported_years_is_refused(moment: str) -> None:
    with pytest.raises(ValueError, match="outside 2000-2999: write a real date"):
        parse_timestamp(moment)


@pytest.mark.parametrize("moment", ["2000-01-01T00:00:00Z", "2999-12-31T23:59:59Z",
                                    "2999-12-31T23:59:59.999999Z", "2026-11-23T13:00:00+02:00"])
def test_times_inside_the_supported_years_parse(moment: str) -> None:
    assert parse_timestamp(moment).tzinfo is UTC


@pytest.mark.parametrize("key", ["expires_at", "starts_at"])
@pytest.mark.parametrize("moment", OUTSIDE)
def test_flat_and_libyaml_paths_report_the_same_finding(key: str, moment: str) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    plain = request("alice", "prod-admin", moment if key == "expires_at" else
                    "2026-11-23T12:00:00Z",
                    starts=moment if key == "starts_at" else None)
    quoted = plain.replace(moment, f'"{moment}"')
    # One spelling takes the line parser, the other libyaml: both must say the same.
    assert yamlfile._flat_document(plain, path, yamlfile.MAX_NODES) is not None
    assert yamlfile._flat_document(quoted, path, yamlfile.MAX_NODES) is None
    answers = []
    for text in (plain, quoted):
        loaded, findings = load_request(MemorySource({path: text}), path)
        assert loaded is None
        answers.append([(f.location, f.code, f.message) for f in findings])
    assert answers[0] == answers[1]
    [(where, code, message)] = answers[0]
    assert code == "bad-time" and where.line == 5
    assert message.startswith(f"{key}: {moment} is outside 2000-2999: write a real date"), message


def test_validate_names_the_file_and_line_of_a_time_outside_the_years(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={HOSTILE: request("bob", "break-glass", "0001-01-01T00:30:00Z")})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json",
                    "--now", "2026-11-23T10:00:00Z")
    assert result.code == 1
    [finding] = result.json()["findings"]
    assert (finding["file"], finding["line"], finding["code"]) == (HOSTILE, 5, "bad-time")
    assert finding["message"] == ("expires_at: 0001-01-01T00:30:00Z is outside 2000-2999: "
                                  "write a real date (e.g. 2026-11-23T13:00:00Z)")


def test_now_outside_the_supported_years_is_a_usage_error(tmp_path: Path) -> None:
    write_repo(tmp_path)
    result = invoke("revoke", "--repo", str(tmp_path), "--now", "0001-01-01T00:30:00Z")
    assert result.code == 2
    assert "--now" in result.err and "outside 2000-2999" in result.err


# -- date arithmetic saturates instead of overflowing --------------------------------------------

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(("value", "delta", "expected"), [
    (EARLIEST + timedelta(minutes=30), -timedelta(hours=1), EARLIEST),
    (LATEST - timedelta(minutes=30), timedelta(hours=1), LATEST),
    (TEN, timedelta(hours=1), TEN + timedelta(hours=1)),
    (TEN, -timedelta(hours=1), TEN - timedelta(hours=1)),
    (EARLIEST, timedelta.max, LATEST),
])
def test_saturating_add(value: datetime, delta: timedelta, expected: datetime) -> None:
    assert timestamps.saturating_add(value, delta) == expected


def test_the_gitlab_backstop_date_saturates_at_the_end_of_the_calendar() -> None:
    assert backstop_date(LATEST) == date.max.isoformat()
    assert backstop_date(TEN) == "2026-11-24"


# -- the pure judges: a value only a bug could let past the loader --------------------------------

def policies() -> Policies:
    source = MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES,
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="prod-admins", exclusive="false"),
        "policies/entitlements/break-glass.yaml": ENTITLEMENT.format(
            name="break-glass", group="break-glass", exclusive="false") + GLASS,
    })
    loaded, findings = load_policies(source)
    assert loaded is not None and not findings, findings
    return loaded


def loaded_request(requester: str, entitlement: str, expires: str) -> Request:
    path = f"access-requests/{entitlement}/{requester}-x.yaml"
    loaded, findings = load_request(
        MemorySource({path: request(requester, entitlement, expires)}), path)
    assert loaded is not None, findings
    return loaded


def broken(requester: str, entitlement: str, expires_at: datetime) -> Request:
    """A request the loader could never make: a value past every check."""
    return dataclasses.replace(loaded_request(requester, entitlement, "2026-11-23T12:00:00Z"),
                               expires_at=expires_at)


def test_evaluate_turns_a_request_it_cannot_judge_into_a_finding() -> None:
    good = loaded_request("alice", "prod-admin", "2026-11-23T12:00:00Z")
    # Naive: comparing it with `now` raises TypeError.
    bad = broken("bob", "prod-admin", datetime(2026, 11, 23, 12, 0))
    result = evaluate(policies(), [good, bad], TEN)
    assert result.judgements[good.path].state is State.ACTIVE
    assert [g.principal for g in result.grants] == ["alice"]
    judgement = result.judgements[bad.path]
    assert judgement.state is State.INVALID
    [finding] = judgement.findings
    assert (finding.location.path, finding.code) == (bad.path, "internal-error")
    assert "TypeError" in finding.message and "report this as a bug" in finding.message
    assert finding in result.findings


@pytest.mark.parametrize(("expires_at", "state"), [(EARLIEST, State.EXPIRED),
                                                   (LATEST, State.INVALID)])
def test_evaluate_judges_times_at_the_ends_of_the_calendar(expires_at: datetime,
                                                           state: State) -> None:
    edge = broken("bob", "prod-admin", expires_at)
    judgement = evaluate(policies(), [edge], TEN).judgements[edge.path]
    assert judgement.state is state
    assert "internal-error" not in [f.code for f in judgement.findings]


def test_a_request_evaluate_cannot_judge_backs_nothing_but_stays_managed() -> None:
    bad = broken("bob", "prod-admin", datetime(2026, 11, 23, 12, 0))
    result = evaluate(policies(), [bad], TEN)
    assert result.grants == [] and result.unexpired == set()
    assert list(result.managed.values()) == [[bad.path]]


def test_the_ratification_sweep_goes_on_past_a_request_it_cannot_judge() -> None:
    base = policies()
    # Merged no earlier than 09:00, so its deadline may have passed at 09:30: it is swept.
    ordinary = loaded_request("alice", "break-glass", "2026-11-23T11:00:00Z")
    naive = broken("bob", "break-glass", datetime(2026, 11, 23, 11, 0))
    edge = broken("carol", "break-glass", EARLIEST)

    def no_vcs() -> Verifier:
        raise ConfigError("no VCS is configured")

    result = sweep(base, [naive, edge, ordinary], TEN, timedelta(minutes=15), no_vcs)
    withdrawn = {o.request.path for o in result.withdrawn}
    # The ordinary one is judged as ever (the VCS cannot be asked: withdrawn to be safe) ...
    assert ordinary.path in withdrawn
    # ... the one that cannot be judged backs nothing and is a finding against its file.
    assert naive.path in withdrawn
    [finding] = result.findings
    assert finding.location.path == naive.path and finding.code == "internal-error"
    assert "report this as a bug" in finding.message
    # The one at the start of the calendar is judged without overflowing (long expired).
    assert edge.path not in withdrawn
