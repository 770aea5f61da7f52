"""The VCS budget layer's decisions, answer by answer (approval/vcs/transport.py). The whole
path, through PyGithub and python-gitlab to the emulators, is tests/e2e/test_vcs_rate_limits.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from accessctl.approval.vcs.transport import (
    SECONDARY_WAIT,
    Budget,
    BudgetSettings,
    VcsBudgetSpent,
    VcsUnreachable,
    settings_from,
)
from accessctl.core.errors import ConfigError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()


def budget(reserve: int = 10, max_wait: float = 60.0) -> tuple[Budget, list[float]]:
    slept: list[float] = []
    made = Budget(BudgetSettings("GitHub", "https://api.example", "GITHUB_TOKEN",
                                 reserve=reserve, max_wait=max_wait),
                  clock=lambda: NOW, sleep=slept.append)
    return made, slept


def answer(status: int, headers: dict[str, str], body: object = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = json.dumps(body or {}).encode()
    return response


@pytest.mark.parametrize(("status", "headers", "body", "expected"), [
    (429, {"Retry-After": "Mon, 23 Nov 2026 09:00:30 GMT"}, None, ("limited", 30.0)),
    (429, {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(NOW) + 20)}, None,
     ("limited", 21.0)),
    (403, {"retry-after": "7"}, {"message": "whatever"}, ("limited", 7.0)),
    (403, {}, {"message": "You have exceeded a secondary rate limit. Please wait."},
     ("limited", SECONDARY_WAIT)),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)},
     {"message": "API rate limit exceeded for user ID 1."}, ("limited", 6.0)),
    (403, {"x-ratelimit-remaining": "4000"}, {"message": "Resource not accessible"}, None),
    (503, {}, None, ("failing", -1.0)),
    (502, {"Retry-After": "2"}, None, ("failing", 2.0)),
    (404, {}, None, None),
    (200, {"x-ratelimit-remaining": "0"}, None, None),
])
def test_which_answers_are_retried_and_after_how_long(
        status: int, headers: dict[str, str], body: object,
        expected: tuple[str, float] | None) -> None:
    made, _ = budget()
    assert made.retry_wait(answer(status, headers, body)) == expected


def test_the_reserve_is_never_spent_unless_a_new_window_is_near() -> None:
    made, slept = budget(reserve=10, max_wait=60)
    made.observe({"x-ratelimit-remaining": "11", "x-ratelimit-reset": str(int(NOW) + 3600)})
    made.check()  # 11 left, reserve 10: one more may go
    made.observe({"x-ratelimit-remaining": "10", "x-ratelimit-reset": str(int(NOW) + 3600)})
    with pytest.raises(VcsBudgetSpent, match="down to 10 requests"):
        made.check()
    made.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int(NOW) + 30)})
    made.check()  # the window resets in 30 s: waited out, not deferred
    assert slept == [31.0]


def test_gitlab_headers_count_too() -> None:
    made, _ = budget(reserve=5)
    made.observe({"RateLimit-Remaining": "5", "RateLimit-Reset": str(int(NOW) + 600)})
    with pytest.raises(VcsBudgetSpent):
        made.check()


def test_once_unreachable_every_later_request_fails_at_once() -> None:
    made, _ = budget()
    made.mark_down("GitHub unreachable at https://api.example: ConnectionError")
    with pytest.raises(VcsUnreachable, match=r"GitHub unreachable at https://api\.example"):
        made.check()


@pytest.mark.parametrize("value", ["-1", "lots", "nan"])
def test_a_bad_setting_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="ACCESSCTL_VCS_RESERVE"):
        settings_from({"ACCESSCTL_VCS_RESERVE": value}, "GitHub", "u", "GITHUB_TOKEN")
    assert settings_from({"ACCESSCTL_VCS_RESERVE": "7", "ACCESSCTL_VCS_MAX_WAIT": "5"},
                         "GitLab", "u", "GITLAB_TOKEN").reserve == 7
