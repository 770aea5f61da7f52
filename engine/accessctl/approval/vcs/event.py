"""The pull request event `validate --event` is given: read, checked, and its number taken.

The event file is untrusted input (anyone can run the command by hand, and a workflow can be
pointed at the wrong trigger), so every way it can be wrong is one clear line naming the file,
the key, what was found and what was expected, and all of it is checked before a VCS client is
built.

GitHub: the payload of a `pull_request` or `pull_request_review` event (both carry a
`pull_request` object); when the environment names the event (`GITHUB_EVENT_NAME`, set by
GitHub Actions) it must be one of those two. `pull_request_target` is refused: it runs with the
repository's secrets, and validate installs the pull request's own code (docs/ci.md).

GitLab: a merge request event, of which the engine reads `object_attributes.iid` (GitLab CI
has no event file; .gitlab-ci.yml writes `{"object_attributes": {"iid": N}}`). When
`object_kind` is present it must be `merge_request`: an issue event also has an `iid`.

The event's `action` is not read, on purpose: the engine takes only the number from the event
and reads the pull request, its files and its reviews afresh from the API. Every action (opened,
synchronize, a review submitted, edited or dismissed) re-runs the same validation against the
current state, so a dismissed approval no longer counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accessctl.core.errors import ConfigError

MAX_EVENT_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB; a larger file is not an event GitHub wrote."""

MAX_NUMBER = 2**31 - 1
"""Pull request and merge request numbers are 32-bit on both platforms' APIs."""

GITHUB_EVENTS = ("pull_request", "pull_request_review")
EXPECT_NUMBER = f"expected a whole number from 1 to {MAX_NUMBER}"


def read_event(path: Path) -> Any:
    """The event file's JSON value (any JSON value: its shape is checked by `pull_number`)."""
    try:
        size = path.stat().st_size
        if size > MAX_EVENT_BYTES:
            raise ConfigError(
                f"{path}: the event is {size} bytes, more than the {MAX_EVENT_BYTES} accepted "
                "(GitHub caps webhook payloads at 25 MB); pass the event file CI provides")
        with path.open("rb") as stream:
            data = stream.read(MAX_EVENT_BYTES + 1)  # the file may grow after the stat
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the event: {error.strerror or error}") from None
    if len(data) > MAX_EVENT_BYTES:
        raise ConfigError(f"{path}: the event is more than the {MAX_EVENT_BYTES} bytes accepted")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the event is not JSON: it is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError(f"{path}: the event file is empty; expected a JSON object (the pull "
                          "request event, such as the file at $GITHUB_EVENT_PATH)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: the event is not JSON: {error.msg} at line {error.lineno} "
                          f"column {error.colno}") from None
    except RecursionError:
        raise ConfigError(f"{path}: the event is not JSON: nested too deeply") from None
    except ValueError as error:  # e.g. an integer with more digits than Python converts
        raise ConfigError(f"{path}: the event is not JSON: {error}") from None


def pull_number(event: Any, kind: str, environ: Mapping[str, str], path: Path) -> int:
    """The number of the pull request (GitHub) or merge request (GitLab) the event is about."""
    if kind == "github":
        name = environ.get("GITHUB_EVENT_NAME")
        if name is not None and name not in GITHUB_EVENTS:
            why = (" (never pull_request_target, which would hand the pull request's code the "
                   "repository's secrets)" if name == "pull_request_target" else "")
            raise ConfigError(f"GITHUB_EVENT_NAME is {json.dumps(name)}; validate --event takes "
                              f"a pull_request or pull_request_review event{why}")
    noun = "a merge request event" if kind == "gitlab" else "a pull request event"
    event = _object(event, "the event", f"expected a JSON object ({noun})", path)
    if kind == "gitlab":
        if "object_kind" in event and event["object_kind"] != "merge_request":
            found = describe(event["object_kind"], expected_type=str)
            raise ConfigError(f'{path}: object_kind is {found}; '
                              'expected "merge_request" (a merge request event)')
        attributes = _object(event.get("object_attributes"), "object_attributes",
                             "expected a merge request event", path)
        return _number(attributes, "object_attributes.iid", "iid", path)
    pull = _object(event.get("pull_request"), "pull_request",
                   "expected a pull_request or pull_request_review event", path)
    number = _number(pull, "pull_request.number", "number", path)
    # pull_request events repeat the number at the top; both must name the same pull request.
    top = event.get("number", number)
    if isinstance(top, bool) or not isinstance(top, int) or top != number:  # true == 1
        raise ConfigError(f"{path}: number is {describe(event['number'])} but "
                          f"pull_request.number is {number}; expected the same pull request "
                          "in both")
    return number


def _object(value: Any, key: str, expected: str, path: Path) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if value is None and key != "the event":
        raise ConfigError(f"{path}: {key} is missing; {expected}")
    what = "expected an object" if key != "the event" else expected
    raise ConfigError(f"{path}: {key} is {describe(value)}; {what}")


def _number(record: dict[str, Any], key: str, field: str, path: Path) -> int:
    if field not in record:
        raise ConfigError(f"{path}: {key} is missing; {EXPECT_NUMBER}")
    value = record[field]
    # bool is an int in Python: `true` must not read as pull request 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NUMBER:
        raise ConfigError(f"{path}: {key} is {describe(value)}; {EXPECT_NUMBER}")
    return value


def describe(value: Any, expected_type: type | None = None) -> str:
    """A JSON value as one short line: JSON-escaped (no newline or control character from the
    event reaches the terminal or a workflow command), cut to 60 characters, and with its type
    unless it is of the type expected there."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if expected_type is not None and type(value) is expected_type:
        return text
    if isinstance(value, bool):
        return f"{text} (a boolean)"
    if isinstance(value, str):
        return f"{text} (a string)"
    if isinstance(value, float):
        return f"{text} (a number with a fraction or exponent)"
    return text
