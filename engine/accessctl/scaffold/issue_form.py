"""The access request issue form (.github/ISSUE_TEMPLATE/access-request.yml), generated from the
entitlements: one dropdown of every entitlement, the duration, the reason and the ticket, with
a table of what each entitlement is, how long it may last and who approves it. Its fields are
read/issue_form.py's, which reads an issue opened from it back. Pure: text in, text out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from accessctl.core import markdown
from accessctl.core.durations import format_duration
from accessctl.core.model import Entitlement
from accessctl.read import issue_form

PATH = ".github/ISSUE_TEMPLATE/access-request.yml"
GENERATED = ("# Generated from policies/entitlements/ by `accessctl workflows --write`: do not "
             "edit by hand;\n# change the entitlements and run the command again (`accessctl "
             "workflows --check`\n# and `accessctl validate` report a stale file).\n")


def _quoted(value: str) -> str:
    """A YAML scalar that stays text whatever it holds (JSON's string is YAML's too)."""
    return json.dumps(value, ensure_ascii=False)


def render(entitlements: Sequence[Entitlement]) -> str:
    """The form; ValueError when there is no entitlement to offer."""
    if not entitlements:
        raise ValueError("policies/entitlements/ holds no entitlement: there is nothing for "
                         "the access request form to offer")
    ordered = sorted(entitlements, key=lambda e: e.name)
    rows = "".join(
        f"        | {markdown.code(e.name)} | {markdown.text(e.description or '')} | "
        f"{format_duration(e.max_duration)} | {markdown.text(', '.join(e.approvers))} |\n"
        for e in ordered)
    options = "".join(f"        - {_quoted(e.name)}\n" for e in ordered)
    return GENERATED + f"""#
# Asking for access without git: the request workflow (.github/workflows/request-from-issue.yml)
# turns an issue opened from this form into the pull request that adds the request file, for
# the issue's author, and comments its link here. The code owners approve that pull request;
# what is granted is its file, so editing the issue afterwards changes nothing.
name: Access request
description: >-
  Ask for temporary access. A bot opens the pull request for you; the code owners of the
  entitlement approve it there.
title: "Access request"
labels: [{issue_form.LABEL}]
body:
  - type: markdown
    attributes:
      value: |
        Access is granted when a code owner of the entitlement approves the pull request this
        issue becomes, and it ends by itself when the duration has passed (counted from when
        the pull request is opened). You must be listed in `policies/identities.yaml` under
        your GitHub login. Your own approval does not count.

        | entitlement | what | at most | approved by |
        | --- | --- | --- | --- |
{rows}  - type: dropdown
    id: {issue_form.ENTITLEMENT.id}
    attributes:
      label: {issue_form.ENTITLEMENT.label}
      description: What you need access to.
      options:
{options}    validations:
      required: true
  - type: input
    id: {issue_form.DURATION.id}
    attributes:
      label: {issue_form.DURATION.label}
      description: How long, e.g. 30m, 4h or 1d12h; at most the entitlement's maximum.
      placeholder: 4h
    validations:
      required: true
  - type: textarea
    id: {issue_form.REASON.id}
    attributes:
      label: {issue_form.REASON.label}
      description: Why you need it. The approvers and auditors read this.
    validations:
      required: true
  - type: input
    id: {issue_form.TICKET.id}
    attributes:
      label: {issue_form.TICKET.label}
      description: The incident or change ticket, where the entitlement asks for one.
      placeholder: INC-1234
"""
