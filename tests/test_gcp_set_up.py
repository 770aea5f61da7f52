"""The GCP set-up as written: the permissions the provider states (`PERMISSIONS`) and the doc
agree on the least that works, roles are limited with `modifiedGrantsByRole` (a deny policy
cannot limit which roles a policy write adds), and Workload Identity Federation trusts the same
subject in docs/platforms/gcp.md as in docs/ci.md: the protected environment's, not a repository
and a branch."""

from __future__ import annotations

import re
from pathlib import Path

from accessctl.providers import gcp

ROOT = Path(__file__).resolve().parent.parent
GCP_DOC = (ROOT / "docs" / "platforms" / "gcp.md").read_text()
CI_DOC = (ROOT / "docs" / "ci.md").read_text()


def test_the_least_privilege_is_the_same_in_code_and_doc() -> None:
    for text in (gcp.PERMISSIONS, GCP_DOC):
        for permission in ("resourcemanager.projects.getIamPolicy",
                           "resourcemanager.projects.setIamPolicy",
                           "resourcemanager.folders.*" if text is gcp.PERMISSIONS
                           else "resourcemanager.folders.getIamPolicy",
                           "resourcemanager.organizations.*" if text is gcp.PERMISSIONS
                           else "resourcemanager.organizations.getIamPolicy",
                           "iam.googleapis.com/modifiedGrantsByRole",
                           "hasOnly"):
            assert permission in text, permission
    # The broad organization role is offered by neither: only named as what not to use.
    assert "organizationAdmin" not in gcp.PERMISSIONS
    assert "organizationAdmin` is far broader" in GCP_DOC
    assert "deny policy that stops" not in GCP_DOC


def subject_conditions(text: str) -> set[str]:
    return set(re.findall(r"--attribute-condition=\"([^\"]+)\"", text))


def test_workload_identity_trusts_the_environment_subject_in_both_docs() -> None:
    gcp_conditions = {c.replace("acme/access", "ORG/REPO") for c in subject_conditions(GCP_DOC)}
    assert gcp_conditions == subject_conditions(CI_DOC) == {
        "assertion.sub == 'repo:ORG/REPO:environment:production'"}
    assert "attribute.repository/" not in GCP_DOC and "assertion.ref ==" not in GCP_DOC
    assert "subject/repo:acme/access:environment:production" in GCP_DOC
    for api in ("iam.googleapis.com", "sts.googleapis.com", "iamcredentials.googleapis.com"):
        assert api in GCP_DOC, api


def test_the_doc_says_when_access_really_ends() -> None:
    assert "within minutes of `expires_at`" in GCP_DOC
    assert "access-change-propagation" in GCP_DOC
    assert "Cloud Identity Premium" in GCP_DOC and "manage-expirations" in GCP_DOC
