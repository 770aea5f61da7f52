"""The access request issue form: its fields, and an issue's body read back into them. Pure.

GitHub renders an issue opened from a form as one section per field, in the form's order:
`### <label>`, a blank line, the value (`_No response_` for an optional field left empty). The
body is the issue author's text, and anyone who can edit the issue can rewrite it, so it is read
strictly: each field's heading exactly once, in order; a heading repeated (a reason that writes
its own `### Ticket` line, say) makes the body ambiguous and is refused rather than guessed at.
The values are checked again by the engine like any request (scaffold/issue_form.py writes the
form from the same fields).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

LABEL = "access-request"
"""The issue label the form sets, and the request workflow answers to."""

NO_RESPONSE = "_No response_"
"""What GitHub writes for an optional field left empty."""


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    required: bool


ENTITLEMENT = Field("entitlement", "Entitlement", True)
DURATION = Field("duration", "Duration", True)
REASON = Field("reason", "Reason", True)
TICKET = Field("ticket", "Ticket", False)
FIELDS = (ENTITLEMENT, DURATION, REASON, TICKET)

_HEADING = re.compile(r"^###[ \t]+(.*?)[ \t]*$")


@dataclass(frozen=True)
class Asked:
    """What the issue asks for, as its author wrote it (not judged yet)."""

    entitlement: str
    duration: str
    reason: str
    ticket: str | None


def parse(body: str | None) -> tuple[Asked | None, list[str]]:
    """The form's values from an issue body, or the problems that keep it from being read (each
    a sentence the issue's author can act on)."""
    lines = (body or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    labels = {f.label.casefold(): f for f in FIELDS}
    sections: dict[str, list[str]] = {}
    order: list[str] = []
    current: str | None = None
    problems: list[str] = []
    for line in lines:
        heading = _HEADING.match(line)
        field = labels.get(heading[1].casefold()) if heading else None
        if field is not None:
            if field.id in sections:
                problems.append(f"the issue has more than one '### {field.label}' section: "
                                "write each field once, as the form does")
            sections[field.id] = []
            order.append(field.id)
            current = field.id
        elif current is not None:
            sections[current].append(line)
    missing = [f for f in FIELDS if f.id not in sections]
    if missing:
        problems.append("the issue does not follow the access request form (no "
                        + ", ".join(f"'### {f.label}'" for f in missing)
                        + " section): open it from the form, or write the sections as it does")
    elif order != [f.id for f in FIELDS] and not problems:
        problems.append("the issue's sections are not in the form's order ("
                        + ", ".join(f.label for f in FIELDS) + ")")
    if problems:
        return None, problems
    values = {key: _value(text) for key, text in sections.items()}
    for field in FIELDS:
        if field.required and not values[field.id]:
            problems.append(f"{field.label} is empty: fill it in")
    for field in (ENTITLEMENT, DURATION, TICKET):
        if "\n" in values[field.id]:
            problems.append(f"{field.label} must be one line")
    for field in FIELDS:
        if _controls(values[field.id]):
            problems.append(f"{field.label} holds a control character: write plain text")
    if problems:
        return None, problems
    return Asked(values[ENTITLEMENT.id], values[DURATION.id],
                 " ".join(values[REASON.id].split()), values[TICKET.id] or None), []


def _value(lines: list[str]) -> str:
    text = "\n".join(lines).strip()
    return "" if text == NO_RESPONSE else text


def _controls(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in text)
