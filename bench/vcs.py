"""VCS API calls per run at the scale the design is built for, counted by the GitHub emulator.

An access repository on the GitHub emulator with 100 entitlements (IAM groups on moto), 1,000
people, and the code owners' team @acme/security on GitHub. Every request goes the real way: a
pull request adding the file, a code owner's approval, a squash merge; the checkout is a clone
of the default branch (tests/git_checkout.py, with the emulator's own commit IDs). Then
`accessctl apply --confirm`, in-process through the real CLI, PyGithub and boto3, and the
emulator's request log counted for each run:

1. 1,000 requests merged, none applied yet: the first run grants them all;
2. a steady-state run: 1,000 active grants, nothing new (goal: <= 5 calls in total);
3. one newly merged request (goal: <= 4 calls more than the steady state);
4. 100 requests merged since the last run (goal: <= 3 calls per request).

Run: `.venv/bin/python bench/vcs.py [--people 1000] [--entitlements 100] [--batch 100]`.
Nothing is asserted: the figures are for reading side by side (one run, one machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accessctl.approval.codeowners import generate
from accessctl.emulators.aws import client, moto_server
from accessctl.emulators.github import GitHubEmulator
from accessctl.read.load import TreeSource, load_policies

from tests.cli_runner import invoke
from tests.git_checkout import has_object, mirror

REPO = "acme/access"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

ENTITLEMENT = """\
name: e-{i:03}
provider: aws
target:
  kind: iam_group
  group: g-{i:03}
eligible: ["@acme/everyone"]
approvers: ["@acme/security"]
approvals: 1
max_duration: 8h
"""


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def person(n: int) -> str:
    return f"p{n:04}"


class Bench:
    def __init__(self, github: GitHubEmulator, endpoint: str, root: Path, people: int,
                 entitlements: int) -> None:
        self.github = github
        self.root = root
        self.checkout = root / "checkout"
        self.entitlements = entitlements
        self.asked = 0
        github.clock = lambda: T0
        github.add_org("acme")
        everyone = [person(n) for n in range(people + 200)]
        for login in [*everyone, "carol"]:
            github.add_user(login)
            github.add_org_member("acme", login)
        github.add_team("acme", "security", ["carol"])
        files = {
            "policies/providers.yaml": "providers:\n  aws:\n    platform: aws\n"
                                       f"    region: us-east-1\n    endpoint_url: {endpoint}\n",
            "policies/identities.yaml": "people:\n" + "".join(
                f"  {p}: {{aws: {p}}}\n" for p in everyone) + "  carol: {aws: carol}\n"
                "teams:\n  \"@acme/everyone\": [" + ", ".join(everyone) + "]\n"
                "admins: [\"@acme/security\"]\n",
        }
        for i in range(entitlements):
            files[f"policies/entitlements/e-{i:03}.yaml"] = ENTITLEMENT.format(i=i)
        staging = root / "seed"
        for path, text in files.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_text(text)
        policies, problems = load_policies(TreeSource(staging))
        assert policies is not None, problems
        files[".github/CODEOWNERS"] = generate(policies)
        github.add_repo("acme", "access", files=files, author="carol")
        iam = client("iam", endpoint)
        for login in everyone:
            iam.create_user(UserName=login)
        for i in range(entitlements):
            iam.create_group(GroupName=f"g-{i:03}")
        self.environ = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": github.token,
                        "GITHUB_API_URL": f"{github.base_url}/api/v3",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def merge_requests(self, count: int) -> None:
        """`count` more people each ask for one entitlement, approved and squash-merged."""
        for _ in range(count):
            n = self.asked
            self.asked += 1
            login = person(n)
            entitlement = f"e-{n % self.entitlements:03}"
            path = f"access-requests/{entitlement}/{login}-x.yaml"
            text = (f"requester: {login}\nentitlement: {entitlement}\nreason: bench\n"
                    f"expires_at: {stamp(hours(6))}\n")
            number = self.github.open_pull(REPO, login, f"ask-{n}", {path: text})
            self.github.submit_review(REPO, number, "carol", at=hours(0.2))
            self.github.merge_pull(REPO, number, "squash", merged_by="carol", at=hours(0.5))
        head = self.github.ref(REPO, "refs/heads/main")
        assert head is not None
        mirror(self.checkout, self.github.git_objects(REPO, "refs/heads/main",
                                                      has_object(self.checkout)), head)

    def apply(self, at: float) -> tuple[int, Counter[str], float, int]:
        with self.github.lock:
            self.github.log.clear()
        started = time.perf_counter()
        result = invoke("apply", "--repo", str(self.checkout), "--confirm", "--audit-file",
                        str(self.root / "audit.jsonl"), environ=self.environ, now=hours(at))
        seconds = time.perf_counter() - started
        with self.github.lock:
            routes = Counter(_route(e.path) for e in self.github.log)
        if result.code != 0:
            print(result.err[-2000:], file=sys.stderr)
        grants = sum(1 for line in result.out.splitlines() if '"action": "grant"' in line)
        return sum(routes.values()), routes, seconds, grants


def _route(path: str) -> str:
    if path.split("?")[0].strip("/") == "api/graphql":
        return "graphql"  # the token's permission check
    parts = path.split("?")[0].strip("/").split("/")[2:]  # drop api/v3
    shape = ["{sha}" if len(p) == 40 else "{n}" if p.isdigit() else p for p in parts]
    return "/".join(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--entitlements", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workspace, moto_server() as endpoint, \
            GitHubEmulator() as github:
        started = time.perf_counter()
        bench = Bench(github, endpoint, Path(workspace), args.people, args.entitlements)
        bench.merge_requests(args.people)
        print(f"set-up: {args.people} pull requests opened, approved, squash-merged and "
              f"mirrored in {time.perf_counter() - started:.0f} s\n")
        print("| run | grants made | VCS API calls | per new request | goal | time | calls by "
              "route |")
        print("| --- | --- | --- | --- | --- | --- | --- |")

        def row(name: str, new: int, at: float, goal: str, base: int = 0) -> int:
            total, routes, seconds, grants = bench.apply(at)
            per = f"{(total - base) / new:.2f}" if new else "-"
            detail = ", ".join(f"{r} {c}" for r, c in routes.most_common())
            print(f"| {name} | {grants} | {total} | {per} | {goal} | {seconds:.1f} s | "
                  f"{detail} |", flush=True)
            return total

        row(f"first run: {args.people} merged, none applied", args.people, 1, "")
        steady = row(f"steady state: {args.people} active grants", 0, 1.1, "<= 5 in total")
        bench.merge_requests(1)
        row("one newly merged request", 1, 1.2, "<= 4 more than steady", steady)
        bench.merge_requests(args.batch)
        row(f"{args.batch} merged since the last run", args.batch, 1.3, "<= 3 per request",
            steady)
        row(f"steady state again: {bench.asked} active grants", 0, 1.4, "<= 5 in total")


if __name__ == "__main__":
    main()
