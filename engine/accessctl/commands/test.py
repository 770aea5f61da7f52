"""`accessctl test`: run the policy test cases in policies/tests/, like `opa test`."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import click

from accessctl.commands.common import environment, repo_option
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Severity

RULE = "-" * 80


@click.command("test")
@repo_option
@click.option("--run", "pattern", metavar="REGEX", default=None,
              help="Only the cases whose name matches.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def command(ctx: click.Context, repo: Path, pattern: str | None, fmt: str) -> None:
    """Run the cases in policies/tests/*.yaml against the policies (exit 1 on any failure).

    Offline and fast: each case's requests are judged as if merged by their requester and
    approved by the case's approvals, with the repository's CODEOWNERS.
    """
    from accessctl.approval.codeowners import CodeOwners, generate
    from accessctl.read.load import TreeSource, load_policies
    from accessctl.report.policy_tests import TESTS_DIR, load_cases, run_case, select

    env = environment(ctx)
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError(f"--run: not a regular expression: {error}") from None
    source = TreeSource(repo)
    policies, found = load_policies(source)
    errors = [f for f in found if f.severity is Severity.ERROR]
    if policies is None or errors:
        for finding in errors:
            env.stderr.write(f"{finding.location}: {finding.message}\n")
        raise FindingsError("the policies have errors: run 'accessctl validate'")
    owners_file = next((repo / p for p in (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
                        if (repo / p).is_file()), None)
    # Without a CODEOWNERS file, judge by the one `accessctl codeowners --write` would write.
    codeowners = CodeOwners.parse(owners_file.read_text("utf-8", "replace")
                                  if owners_file is not None else generate(policies))
    files = [p for p in source.list(TESTS_DIR) if p.endswith((".yaml", ".yml"))]
    passed = failed = 0
    report: list[dict[str, object]] = []
    for path in files:
        cases, problems = load_cases(path, source.read(path) or b"")
        for problem in problems:
            failed += 1
            if fmt == "text":
                env.stdout.write(f"{problem.location}: {problem.message}\n")
            report.append({"file": path, "line": problem.location.line, "name": None,
                           "passed": False, "problem": problem.message})
        chosen = select(cases, pattern)
        if chosen and fmt == "text":
            env.stdout.write(f"{path}:\n")
        for case in chosen:
            started = time.perf_counter()
            outcome = run_case(policies, codeowners, case)
            elapsed = time.perf_counter() - started
            passed += outcome.passed
            failed += not outcome.passed
            report.append({"file": path, "line": case.location.line, "name": case.name,
                           "passed": outcome.passed, "allowed": outcome.allowed,
                           "reasons": list(outcome.reasons), "problem": outcome.problem})
            if fmt == "json":
                continue
            mark = "PASS" if outcome.passed else "FAIL"
            env.stdout.write(f"{mark}: {case.name} ({elapsed * 1000:.1f}ms)\n")
            if not outcome.passed:
                env.stdout.write(f"  {case.location}: {outcome.problem}\n")
                for reason in outcome.reasons:
                    env.stdout.write(f"    - {reason}\n")
    total = passed + failed
    if fmt == "json":
        env.stdout.write(json.dumps({"cases": report, "passed": passed, "failed": failed},
                                    indent=2) + "\n")
    elif total == 0:
        env.stdout.write(f"no test cases found in {TESTS_DIR}/\n")
    else:
        env.stdout.write(f"{RULE}\nPASS: {passed}/{total}\n")
        if failed:
            env.stdout.write(f"FAIL: {failed}/{total}\n")
    ctx.exit(1 if failed or total == 0 else 0)
