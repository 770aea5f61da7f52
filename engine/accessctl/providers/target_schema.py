"""The JSON Schema of a target kind's `target:` block, written the same way by every platform.

An entitlement's `target:` names what it grants (a group, a role on a resource); each platform
declares, per target kind, the schema that block must match (`TARGET_SCHEMAS`), checked when the
policies load (read/entitlements.py). Every such schema is an object of exactly the kind's
parameters, each with what it means and examples (editors show both).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def target_kind(required: Sequence[str], **params: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of one target kind: an object with exactly `params` (in this order), the
    `required` ones required."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": dict(params),
    }


def param(description: str, examples: Sequence[Any], **constraints: Any) -> dict[str, Any]:
    """One parameter of a target: its `constraints` (`type`, `pattern`, `enum`, ...), what it
    means, and examples."""
    return {**constraints, "description": description, "examples": list(examples)}
