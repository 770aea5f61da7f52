"""Tables take the terminal's width on a terminal, and never cut a cell when piped."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

LONG = "alice-" + "investigate-the-checkout-latency-regression-seen-after-the-" * 3 + "deploy"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path, requests={f"access-requests/prod-admin/{LONG}.yaml":
                                          request("alice", "prod-admin", "2026-11-23T12:00:00Z")})


def test_piped_tables_keep_each_file_name_whole(tmp_path: Path) -> None:
    # plan lists every request only with --verbose (by default it counts them)
    result = invoke("plan", "--offline", "--verbose", "--repo", str(repo(tmp_path)))
    assert result.code == 0, result.err
    assert f"access-requests/prod-admin/{LONG}.yaml" in result.out  # one line, not folded


def test_on_a_terminal_tables_fit_its_width(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from accessctl.judge.evaluate import evaluate
    from accessctl.read.load import TreeSource, load_repository
    from accessctl.report.render import print_requests

    loaded = load_repository(TreeSource(repo(tmp_path)))
    assert loaded.policies is not None
    evaluation = evaluate(loaded.policies, loaded.requests, datetime(2026, 11, 23, 10, tzinfo=UTC))
    for columns in (80, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        stream = Terminal()
        print_requests(stream, evaluation)
        lines = stream.getvalue().splitlines()
        assert max(len(line) for line in lines) <= columns
        if columns == 200:
            assert max(len(line) for line in lines) > 140, "wider than the old fixed width"
