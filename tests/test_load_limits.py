"""Size limits: policy files that grow with the organisation get larger ones than requests."""

from __future__ import annotations

from pathlib import Path

from engine.load import IDENTITIES_FILE, MemorySource, TreeSource, load_policies, load_repository
from tests.repo_fixture import ENTITLEMENT, PROVIDERS, write_repo


def identities(people: int) -> str:
    lines = ["people:"]
    lines += [f"  user-{i:05d}: {{aws: user-{i:05d}}}" for i in range(people)]
    lines.append("teams:")
    for team in range(0, people, 100):
        members = ", ".join(f"user-{i:05d}" for i in range(team, min(team + 100, people)))
        lines.append(f'  "@acme/team-{team // 100:03d}": [{members}]')
    lines.append('admins: ["@acme/team-000"]')
    return "\n".join(lines) + "\n"


def policy_files(identities_text: str) -> dict[str, str]:
    return {
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        IDENTITIES_FILE: identities_text,
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="prod-admins", exclusive="false"),
    }


def test_an_identities_file_for_5000_people_loads() -> None:
    text = identities(5000)
    assert len(text) > 200_000  # more values than a request may hold, by far
    policies, findings = load_policies(MemorySource(policy_files(text)))
    assert findings == []
    assert policies is not None
    assert len(policies.people) == 5000
    assert policies.people["user-04999"].accounts == {"aws": "user-04999"}
    assert policies.teams["@acme/team-049"] == frozenset(f"user-{i:05d}" for i in range(4900, 5000))


def test_requests_keep_their_small_limits(tmp_path: Path) -> None:
    # 5,000 keys are fine in identities.yaml but far too many for a request file.
    body = "".join(f"k{i}: v\n" for i in range(12_000))
    write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": body})
    loaded = load_repository(TreeSource(tmp_path))
    assert [f.code for f in loaded.findings] == ["yaml-too-large"]
