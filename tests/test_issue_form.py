"""The access request issue form: generated from the entitlements, valid by GitHub's issue-forms
schema (check-jsonschema's vendor schema), and an issue opened from it read back strictly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from accessctl.read import issue_form
from accessctl.read.issue_form import FIELDS, NO_RESPONSE, Asked, parse

from tests.cli_runner import invoke
from tests.test_workflows import tool
from tests.test_workflows_generated import copy_of_this_repository

ROOT = Path(__file__).resolve().parent.parent
FORM = ROOT / ".github" / "ISSUE_TEMPLATE" / "access-request.yml"


def body(entitlement: str = "aws-prod-admin", duration: str = "4h",
         reason: str = "Investigate INC-1234", ticket: str | None = "INC-1234") -> str:
    """An issue body as GitHub writes it for a form: `### label`, a blank line, the value."""
    values = [entitlement, duration, reason, ticket or NO_RESPONSE]
    return "\n\n".join(f"### {f.label}\n\n{v}" for f, v in zip(FIELDS, values, strict=True))


def schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema",
                           "vendor.github-issue-forms", str(path)],
                          capture_output=True, text=True, timeout=120)


def form(path: Path = FORM) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_this_repository_s_form_is_valid_by_github_s_schema(tmp_path: Path) -> None:
    checked = schema_check(FORM)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The check bites: a dropdown without options is not a form GitHub takes.
    broken = form()
    next(e for e in broken["body"] if e["type"] == "dropdown")["attributes"]["options"] = []
    bad = tmp_path / "access-request.yml"
    bad.write_text(yaml.safe_dump(broken))
    assert schema_check(bad).returncode == 1


def test_the_form_offers_every_entitlement_and_the_fields_the_engine_reads() -> None:
    data = form()
    assert data["labels"] == [issue_form.LABEL]
    fields = [e for e in data["body"] if e["type"] != "markdown"]
    assert [(e["id"], e["attributes"]["label"]) for e in fields] == [
        (f.id, f.label) for f in FIELDS]
    assert [bool(e.get("validations", {}).get("required")) for e in fields] == [
        f.required for f in FIELDS]
    names = sorted(p.stem for p in (ROOT / "policies" / "entitlements").glob("*.yaml"))
    assert fields[0]["attributes"]["options"] == names


@pytest.mark.parametrize("platforms", ["aws,okta", "gcp,entra,github,gitlab,ad"])
def test_a_new_repository_s_form_is_valid_too(tmp_path: Path, platforms: str) -> None:
    made = invoke("init", str(tmp_path / "repo"), "--platform", platforms, "--org", "acme",
                  "--no-lock")
    assert made.code == 0, made.err
    written = tmp_path / "repo" / ".github" / "ISSUE_TEMPLATE" / "access-request.yml"
    checked = schema_check(written)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (tmp_path / "repo" / ".github" / "workflows" / "request-from-issue.yml").is_file()
    assert "access-request" in made.out and "request_bots" in made.out


def test_a_new_entitlement_makes_the_form_stale(tmp_path: Path) -> None:
    repo = copy_of_this_repository(tmp_path)
    shutil.copy(repo / "policies" / "entitlements" / "aws-prod-admin.yaml",
                repo / "policies" / "entitlements" / "aws-prod-reader.yaml")
    entitlement = repo / "policies" / "entitlements" / "aws-prod-reader.yaml"
    entitlement.write_text(entitlement.read_text().replace("aws-prod-admin", "aws-prod-reader"))
    checked = invoke("workflows", "--check", "--repo", str(repo))
    assert checked.code == 1
    assert ".github/ISSUE_TEMPLATE/access-request.yml" in checked.out
    validated = invoke("validate", "--repo", str(repo), "--format", "json")
    stale = [f for f in validated.json()["findings"] if f["code"] == "workflows-stale"]
    assert [f["message"].split(" (")[0] for f in stale] == [
        ".github/ISSUE_TEMPLATE/access-request.yml does not match policies/entitlements/"]
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    assert "aws-prod-reader" in next(
        e for e in form(repo / ".github" / "ISSUE_TEMPLATE" / "access-request.yml")["body"]
        if e["type"] == "dropdown")["attributes"]["options"]


# -- an issue's body read back ---------------------------------------------------------------------
def test_a_form_body_reads_back() -> None:
    assert parse(body()) == (Asked("aws-prod-admin", "4h", "Investigate INC-1234", "INC-1234"),
                             [])
    assert parse(body(ticket=None))[0] == Asked("aws-prod-admin", "4h", "Investigate INC-1234",
                                                None)
    # Windows line ends, and a reason over several lines, kept as one line of text.
    windows = body(reason="Checkout 5xx\n\n  since 09:00").replace("\n", "\r\n")
    assert parse(windows)[0] == Asked("aws-prod-admin", "4h", "Checkout 5xx since 09:00",
                                      "INC-1234")
    # A heading the form does not have is text of the section it is in.
    assert parse(body(reason="see below\n### Timeline\nall day"))[0] == Asked(
        "aws-prod-admin", "4h", "see below ### Timeline all day", "INC-1234")


REFUSED = [
    ("not from the form", "please give me prod", "does not follow the access request form"),
    ("a section missing", body().split("### Ticket")[0], "no '### Ticket' section"),
    ("a reason that writes its own ticket section",
     body(reason="x\n\n### Ticket\n\nINC-9", ticket=None), "more than one '### Ticket'"),
    ("sections out of order",
     "\n\n".join(f"### {f.label}\n\nx" for f in reversed(FIELDS)), "not in the form's"),
    ("an empty required field", body(duration=NO_RESPONSE), "Duration is empty"),
    ("an entitlement over two lines", body(entitlement="aws-prod-admin\nbreak-glass"),
     "Entitlement must be one line"),
    ("a control character", body(reason="fix\x1b[2Jit"), "Reason holds a control character"),
    ("a bidirectional override", body(ticket="INC-1\u202e"), "Ticket holds a control"),
]


@pytest.mark.parametrize(("name", "text", "problem"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_body_that_is_not_plainly_the_form_is_refused(name: str, text: str,
                                                         problem: str) -> None:
    asked, problems = parse(text)
    assert asked is None
    assert any(problem in p for p in problems), problems
