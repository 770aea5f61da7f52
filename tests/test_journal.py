"""Settling changes an interrupted run started: which are unfinished, and how each ended."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from accessctl.change.audit import AuditLog, change_event, started_event
from accessctl.change.journal import change_key, finish, read_unfinished, settle, unfinished
from accessctl.core.model import Action, Change, Outcome, Status, Target

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GROUP = Target("gitlab-main", "gitlab", "group", (("group", "acme/ops"),))
OTHER = Target("okta-main", "okta", "group", (("group", "vpn"),))


def change(action: Action, principal: str, target: Target = GROUP) -> Change:
    return Change(action=action, target=target, principal=principal, entitlement="ops",
                  why="test", person=principal, requests=(f"access-requests/ops/{principal}.yaml",))


def lines(*events: object) -> list[str]:
    return [json.dumps(e.as_dict()) if hasattr(e, "as_dict") else str(e) for e in events]


def test_a_started_change_with_an_outcome_is_finished_one_without_is_not() -> None:
    alice, bob = change(Action.GRANT, "alice"), change(Action.GRANT, "Bob")
    log = lines(
        started_event(NOW, alice, "c1"),
        started_event(NOW, bob, "c1"),
        change_event(NOW, Outcome(alice, Status.DONE, "added"), "c1"),
        '{"time": "2026-11-23T12:00:00Z", "action": "grant", "outc',  # torn by a crash
    )
    left = unfinished(log)
    assert [item.key for item in left] == [change_key(bob)]
    assert left[0].line["principal"] == "Bob"


def test_a_failed_outcome_finishes_a_change_and_a_new_start_reopens_it() -> None:
    alice = change(Action.REVOKE, "alice")
    log = lines(started_event(NOW, alice, None),
                change_event(NOW, Outcome(alice, Status.FAILED, "503"), None),
                started_event(NOW, alice, None))
    assert [item.key for item in unfinished(log)] == [change_key(alice)]
    assert unfinished(log[:2]) == []


def test_finish_says_done_or_abandoned_from_what_the_platform_shows() -> None:
    granted, not_granted = change(Action.GRANT, "alice"), change(Action.GRANT, "bob")
    removed, still_there = change(Action.REVOKE, "carol"), change(Action.REVOKE, "dave")
    log = lines(*(started_event(NOW, c, "c0") for c in (granted, not_granted, removed,
                                                        still_there)))
    events = finish(unfinished(log), {GROUP: frozenset({"alice", "dave"})}, set(), NOW, "c1")
    assert [(e.action, e.principal, e.outcome) for e in events] == [
        ("grant", "alice", "done"), ("grant", "bob", "abandoned"),
        ("revoke", "carol", "done"), ("revoke", "dave", "abandoned")]
    assert all(e.commit == "c1" and e.request and "interrupted run" in (e.detail or "")
               and "commit c0" in (e.detail or "") for e in events)


def test_finish_leaves_what_this_run_redoes_or_cannot_see() -> None:
    redone, unseen = change(Action.GRANT, "alice"), change(Action.GRANT, "erin", OTHER)
    log = lines(started_event(NOW, redone, None), started_event(NOW, unseen, None))
    events = finish(unfinished(log), {GROUP: frozenset()}, {change_key(redone)}, NOW, None)
    assert events == []


def test_started_lines_go_to_the_file_only_and_settle_records_the_outcome(
        tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    alice = change(Action.GRANT, "alice")
    first = AuditLog(path, None)
    first.record(started_event(NOW, alice, None), stream=False)
    first.close()  # the run dies here: the platform answered, no outcome line
    assert first.events == []
    assert [item.key for item in read_unfinished(path)] == [change_key(alice)]

    second = AuditLog(path, None)
    settled = settle(second, {GROUP: frozenset({"alice"})}, [], NOW, "c2")
    second.close()
    assert [(e.principal, e.outcome) for e in settled] == [("alice", "done")]
    assert read_unfinished(path) == []
    assert read_unfinished(tmp_path / "no-such.jsonl") == []


def test_parallel_records_share_fsyncs_and_each_returns_only_once_on_disk(
        tmp_path: Path, monkeypatch: object) -> None:
    """Group commit: an fsync covers every line flushed before it began, so 16 threads share
    fsyncs, yet no record returns before an fsync that began after its own line was written."""
    import os
    import threading
    import time as clock

    import pytest
    from accessctl.change import audit as audit_module

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    path = tmp_path / "audit.jsonl"
    synced_sizes: list[int] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        size = os.fstat(fd).st_size  # what this fsync covers: all written before it began
        clock.sleep(0.002)
        real_fsync(fd)
        synced_sizes.append(size)

    monkeypatch.setattr(audit_module.os, "fsync", slow_fsync)
    log = AuditLog(path, None)
    late: list[str] = []

    def worker(n: int) -> None:
        for i in range(20):
            principal = f"p{n}-{i}"
            log.record(change_event(NOW, Outcome(change(Action.GRANT, principal), Status.DONE,
                                                 "added"), "c1"))
            text = path.read_text()
            end = text.index(f'"{principal}"')
            if not synced_sizes or max(synced_sizes) <= end:
                late.append(principal)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    written = path.read_text().splitlines()
    assert len(written) == 320 and all(json.loads(line) for line in written)
    assert late == []
    assert len(synced_sizes) < 320
