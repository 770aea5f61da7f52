"""When access fully ends: every platform kind, as `plan`, `explain` and `status` report it.

A repository with one entitlement per platform and target kind (and instances whose lifetime
settings differ from the vendors' defaults) and one live request each. None of these commands
contacts a platform here (`plan --offline`, `explain`, `status`), so an Identity Center
permission set's SessionDuration is not read: its bound is AWS's longest, said as such
(tests/test_identity_center_sessions.py reads the real one from moto). The three commands must
agree with each other and with the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from accessctl.providers import PLATFORMS, load_module

from tests.cli_runner import invoke

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=2)

INSTANCES = {
    "aws-main": "platform: aws\n    region: eu-west-1",
    "entra-main": "platform: entra",
    "entra-short": "platform: entra\n    session_lifetime: 30m",
    "gcp-main": "platform: gcp",
    "okta-main": "platform: okta\n    org_url: https://acme.okta.com",
    "okta-long": "platform: okta\n    org_url: https://acme.okta.com\n    session_lifetime: 8h",
    "ad-main": "platform: ad\n    url: ldaps://dc1.corp.example.com:636\n"
               "    base_dn: DC=corp,DC=example,DC=com\n    bind_dn: svc@corp.example.com",
    "ad-short": "platform: ad\n    url: ldaps://dc1.corp.example.com:636\n"
                "    base_dn: DC=corp,DC=example,DC=com\n    bind_dn: svc@corp.example.com\n"
                "    ticket_lifetime: PT4H",
    "ad-ttl": "platform: ad\n    url: ldaps://dc1.corp.example.com:636\n"
              "    base_dn: DC=corp,DC=example,DC=com\n    bind_dn: svc@corp.example.com\n"
              "    ttl_membership: true",
    "github-main": "platform: github",
    "gitlab-main": "platform: gitlab",
}

GUID = "02bd9fd6-8f93-4758-87c3-1fb73740a315"
# entitlement -> (instance, target, end_sessions, residual after the revoke, words of the why)
TABLE: dict[str, tuple[str, str, bool, timedelta, str]] = {
    "aws-iam": ("aws-main", "kind: iam_group\n  group: prod-admins", False, timedelta(0),
                "IAM evaluates the group's policies on every request"),
    "aws-sso": ("aws-main", "kind: account_assignment\n  account_id: '123456789012'\n"
                "  permission_set: AdministratorAccess", False, timedelta(hours=12),
                "at most 12h (not read here"),
    "entra-group": ("entra-main", f"kind: group\n  group: {GUID}", False,
                    timedelta(minutes=90), "session_lifetime default 1h30m; Entra gives them "
                    "60-90 minutes by default"),
    "entra-pim": ("entra-main", f"kind: pim_group\n  group: {GUID}", False,
                  timedelta(minutes=90), "access tokens issued before the revoke"),
    "entra-role": ("entra-main", f"kind: directory_role\n  role: {GUID}", False,
                   timedelta(minutes=90), "access tokens issued before the revoke"),
    "entra-short": ("entra-short", f"kind: group\n  group: {GUID}", False,
                    timedelta(minutes=30), "session_lifetime 30m"),
    "entra-ended": ("entra-main", "kind: group\n  group: 12bd9fd6-8f93-4758-87c3-1fb73740a315",
                    True, timedelta(minutes=90),
                    "access tokens already issued stay valid until they expire"),
    "gcp-iam": ("gcp-main", "kind: iam_binding\n  resource: projects/payments-prod\n"
                "  role: roles/viewer", False, timedelta(0), "Google Cloud checks IAM"),
    "gcp-group": ("gcp-main", "kind: group_membership\n  group: prod-readers@example.com",
                  False, timedelta(0), "Google Cloud checks IAM"),
    "okta-group": ("okta-main", "kind: group\n  group: 00g1helpdeskadmins0x7", False,
                   timedelta(hours=1), "session_lifetime default 1h"),
    "okta-long": ("okta-long", "kind: group\n  group: 00g1helpdeskadmins0x7", False,
                  timedelta(hours=8), "session_lifetime 8h"),
    "okta-ended": ("okta-main", "kind: group\n  group: 00g2helpdeskadmins0x7", True,
                   timedelta(0), "ends the person's Okta sessions and OAuth tokens"),
    "ad-group": ("ad-main", "kind: group\n  group: jit-sql-admins", False, timedelta(hours=10),
                 "Kerberos tickets issued before the revoke carry the group up to 10h"),
    "ad-short": ("ad-short", "kind: group\n  group: jit-sql-admins", False, timedelta(hours=4),
                 "ticket_lifetime PT4H"),
    "ad-ttl": ("ad-ttl", "kind: group\n  group: jit-sql-admins", False, timedelta(0),
               "membership's TTL"),
    "github-team": ("github-main", "kind: team\n  org: acme\n  team: sre-oncall", False,
                    timedelta(0), "GitHub checks team and repository permissions"),
    "github-repo": ("github-main", "kind: repository\n  owner: acme\n  repo: infra\n"
                    "  permission: push", False, timedelta(0), "GitHub checks"),
    "gitlab-group": ("gitlab-main", "kind: group\n  group: acme/platform\n"
                     "  access_level: developer", False, timedelta(0), "GitLab checks"),
    "gitlab-project": ("gitlab-main", "kind: project\n  project: acme/platform/infra\n"
                       "  access_level: developer", False, timedelta(0), "GitLab checks"),
}


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def write(root: Path) -> Path:
    (root / "policies" / "entitlements").mkdir(parents=True)
    (root / "policies" / "providers.yaml").write_text(
        "providers:\n" + "".join(f"  {name}:\n    {body}\n" for name, body in INSTANCES.items()))
    accounts = {"aws": "alice", "entra": "alice@corp.example", "gcp": "alice@example.com",
                "okta": "alice@acme.example", "ad": "alice", "github": "alice",
                "gitlab": "alice"}
    (root / "policies" / "identities.yaml").write_text(
        "people:\n  alice: {" + ", ".join(f"{k}: {v}" for k, v in accounts.items()) + "}\n"
        "  carol: {}\nteams:\n  \"@acme/security\": [carol]\nadmins: [\"@acme/security\"]\n")
    for name, (instance, target, ends, _, _) in TABLE.items():
        (root / "policies" / "entitlements" / f"{name}.yaml").write_text(
            f"name: {name}\nprovider: {instance}\ntarget:\n  {target}\neligible: [alice]\n"
            f"approvers: [\"@acme/security\"]\nmax_duration: 8h\n"
            + ("end_sessions: true\n" if ends else ""))
        folder = root / "access-requests" / name
        folder.mkdir(parents=True)
        (folder / "alice-x.yaml").write_text(
            f"requester: alice\nentitlement: {name}\nreason: testing\n"
            f"expires_at: {stamp(EXPIRES)}\n")
    return root


def test_the_table_covers_every_platform_and_target_kind() -> None:
    kinds = {(p, k) for p in PLATFORMS for k in load_module(p).TARGET_SCHEMAS}
    covered = set()
    for instance, target, *_ in TABLE.values():
        platform = INSTANCES[instance].split("\n")[0].removeprefix("platform: ")
        covered.add((platform, target.split("\n")[0].removeprefix("kind: ")))
    assert covered == kinds


def test_plan_explain_and_status_say_when_access_fully_ends(tmp_path: Path) -> None:
    repo = write(tmp_path)
    assert invoke("validate", "--repo", str(repo), now=NOW).code == 0

    plan = invoke("plan", "--offline", "--format", "json", "--repo", str(repo), now=NOW)
    status = invoke("status", "--format", "json", "--repo", str(repo), now=NOW)
    assert plan.code == 0 and status.code == 0, (plan.err, status.err)
    grants = {g["entitlement"]: g for g in plan.json()["grants"]}
    requests = {r["entitlement"]: r for r in status.json()["requests"]}
    assert set(grants) == set(requests) == set(TABLE)

    for name, (_, _, ends, after, words) in TABLE.items():
        gone = stamp(EXPIRES + after)
        for reported in (grants[name], requests[name]):
            assert reported["fully_ends_by"] == gone, name
            residual = reported["residual"]
            assert residual["after_seconds"] == after.total_seconds(), name
            assert words in residual["why"], (name, residual["why"])
            assert residual["ends_sessions"] is ends, name
            assert residual["exact"] is (name != "aws-sso"), name
        explained = invoke("explain", f"access-requests/{name}/alice-x.yaml", "--repo",
                           str(repo), "--format", "json", now=NOW).json()
        sentence = next(c["detail"] for c in explained["checks"] if c["rule"] == "fully-ends")
        assert sentence.startswith(f"access fully ends by {gone}"), (name, sentence)
        assert words in sentence, (name, sentence)
        assert explained["fully_ends_by"] == gone
        assert explained["residual"] == requests[name]["residual"]

    text = invoke("status", "--repo", str(repo), now=NOW).out
    assert f"(2h left, fully ends by {stamp(EXPIRES + timedelta(hours=10))})" in text
    assert "aws-sso: expiry + 12h at most: role sessions started before the revoke" in text
    offline = invoke("plan", "--offline", "--repo", str(repo), now=NOW).out
    assert "When access fully ends (what outlives the revoke)" in offline
    assert "  okta-ended: expiry: the revoke also ends the person's Okta sessions" in offline


@pytest.mark.parametrize(("setting", "value"), [("session_lifetime", "400d"),
                                                ("session_lifetime", "''")])
def test_a_lifetime_that_is_not_a_duration_is_a_finding_on_its_line(
        tmp_path: Path, setting: str, value: str) -> None:
    repo = write(tmp_path)
    providers = repo / "policies" / "providers.yaml"
    text = providers.read_text().replace("session_lifetime: 8h", f"{setting}: {value}")
    providers.write_text(text)
    line = text.splitlines().index(f"    {setting}: {value}") + 1
    result = invoke("validate", "--repo", str(repo), now=NOW)
    assert result.code == 1
    assert f"policies/providers.yaml:{line}" in result.out + result.err
    assert "Traceback" not in result.err
