"""The S3 audit sink on moto in server mode, through boto3: objects only ever created (on a bucket
with Object Lock in compliance mode too), a `started` line there before its platform write,
killed runs read back and clean runs only listed, and the auditor's export (`report --from`)
saying whether every started change has an outcome.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.change.audit import AuditLog, Event
from accessctl.change.audit_sink import END, END_SETTLING, S3Sink, SinkError, parse_url
from accessctl.change.runner import Providers, execute
from accessctl.cli import run
from accessctl.commands.common import load
from accessctl.core.environment import Environment
from accessctl.core.model import Action, Change, Status, Target
from accessctl.emulators.aws import TEST_CREDENTIALS

from tests.cli_runner import Result
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_buckets = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def s3(endpoint: str) -> Any:
    return moto_server.client("s3", endpoint)


def environ(endpoint: str) -> dict[str, str]:
    return {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint}


def locked_bucket(s3: Any) -> str:
    name = f"audit-locked-{next(_buckets)}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    return name


def plain_bucket(s3: Any) -> str:
    name = f"audit-plain-{next(_buckets)}"
    s3.create_bucket(Bucket=name)
    return name


def sink(endpoint: str, bucket: str, started: datetime, calls: Counter[str] | None = None
         ) -> S3Sink:
    made = S3Sink(parse_url(f"s3://{bucket}/audit/prod"), environ(endpoint), started)
    if calls is not None:
        made._client.meta.events.register(
            "before-call.s3.*", lambda model, **_: calls.update([model.name]))
    return made


def keys(s3: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket) for item in page.get("Contents", ()))


def body(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in text.splitlines()]


def event(outcome: str, principal: str = "alice", action: str = "grant") -> Event:
    return Event(time=TEN, action=action, outcome=outcome, principal=principal,
                 provider="aws-test", target="aws-test:iam_group(group=prod-admins)",
                 entitlement="prod-admin")


def test_a_started_line_is_in_the_sink_at_once_and_other_lines_travel_with_the_next(
        tmp_path: Path, endpoint: str, s3: Any) -> None:
    bucket = locked_bucket(s3)
    calls: Counter[str] = Counter()
    audit = AuditLog(tmp_path / "audit.jsonl", None, sink=sink(endpoint, bucket, TEN, calls))
    audit.record(Event(time=TEN, action="deny", outcome="denied", request="r.yaml"))
    assert keys(s3, bucket) == [], "a deny line may wait"
    audit.record(event("started"), stream=False)
    [first] = keys(s3, bucket)
    assert [e["outcome"] for e in body(s3, bucket, first)] == ["denied", "started"]
    audit.record(event("done"))
    assert keys(s3, bucket) == [first], "an outcome line may wait"
    audit.record(event("started", "bob"), stream=False)
    audit.record(event("done", "bob"))
    audit.close()

    found = keys(s3, bucket)
    folder = first.rsplit("/", 1)[0]
    assert found == [f"{folder}/000001.jsonl", f"{folder}/000002.jsonl", f"{folder}/000003.jsonl",
                     f"{folder}/{END}"]
    assert folder.startswith("audit/prod/2026/11/23/20261123T100000000000Z-")
    assert [e["outcome"] for e in body(s3, bucket, found[1])] == ["done", "started"]
    assert [e["outcome"] for e in body(s3, bucket, found[2])] == ["done"]
    # Every object is under the bucket's compliance-mode retention, and nothing was deleted
    # or written twice.
    for key in found:
        assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    assert set(calls) == {"PutObject"} and calls["PutObject"] == 4
    assert audit.sink_failures == []


def test_an_object_is_never_replaced(endpoint: str, s3: Any) -> None:
    bucket = plain_bucket(s3)
    first = sink(endpoint, bucket, TEN)
    key = first.put(['{"action": "grant", "outcome": "started"}'])
    second = sink(endpoint, bucket, TEN)
    second.folder = first.folder  # another run under the same run id (never in practice)
    with pytest.raises(SinkError, match="already exists"):
        second.put(['{"action": "grant", "outcome": "forged"}'])
    assert [e["outcome"] for e in body(s3, bucket, key)] == ["started"]


def test_a_change_whose_started_line_the_sink_refuses_is_not_made(
        tmp_path: Path, endpoint: str) -> None:
    iam = moto_server.fresh_iam(moto_server.client("iam", endpoint), ("prod-admins",),
                                ("alice",))
    repo = write_repo(tmp_path / "repo", endpoint)
    loaded = load(repo)
    assert loaded.policies is not None
    target = Target.build("aws-test", "aws", "iam_group", {"group": "prod-admins"})
    change = Change(Action.GRANT, target, "alice", "prod-admin", "requested")
    audit_file = tmp_path / "audit.jsonl"
    # A bucket that does not exist: the sink refuses every write.
    audit = AuditLog(audit_file, None, sink=sink(endpoint, "audit-missing-bucket", TEN))
    providers = Providers(loaded.policies, environ(endpoint))
    [outcome] = execute([change], providers, audit, lambda: TEN)
    audit.close()

    assert outcome.status is Status.FAILED
    assert "not made: the audit sink did not take its started line" in outcome.detail
    assert iam.get_group(GroupName="prod-admins")["Users"] == [], "granted without a record"
    assert audit.sink_failures, "the lines the sink did not take are reported"
    lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [e["outcome"] for e in lines] == ["started", "failed"]


def test_clean_runs_are_listed_not_downloaded_and_killed_runs_are_read(
        endpoint: str, s3: Any) -> None:
    bucket = plain_bucket(s3)
    for hour in (1, 2):  # two runs that ended with every change finished
        clean = AuditLog(None, None, sink=sink(endpoint, bucket, TEN + timedelta(hours=hour)))
        clean.record(event("started", f"p{hour}"), stream=False)
        clean.record(event("done", f"p{hour}"))
        clean.close()
    killed = AuditLog(None, None, sink=sink(endpoint, bucket, TEN + timedelta(hours=3)))
    killed.record(event("started", "carol"), stream=False)  # and then SIGKILL: no close

    calls: Counter[str] = Counter()
    reader = sink(endpoint, bucket, TEN + timedelta(hours=4), calls)
    lines = [json.loads(line) for line in reader.earlier_lines()]
    assert [(e["principal"], e["outcome"]) for e in lines] == [("carol", "started")]
    assert calls == Counter({"ListObjectsV2": 1, "GetObject": 1})


def test_runs_older_than_the_lookback_are_not_listed(endpoint: str, s3: Any) -> None:
    bucket = plain_bucket(s3)
    old = AuditLog(None, None, sink=sink(endpoint, bucket, TEN - timedelta(days=40)))
    old.record(event("started", "ancient"), stream=False)
    recent = AuditLog(None, None, sink=sink(endpoint, bucket, TEN - timedelta(days=29)))
    recent.record(event("started", "recent"), stream=False)
    reader = sink(endpoint, bucket, TEN)
    assert [json.loads(line)["principal"] for line in reader.earlier_lines()] == ["recent"]


# -- through the CLI ---------------------------------------------------------------------------
def invoke(*args: str, environ: dict[str, str], start: datetime) -> Result:
    """The CLI in-process with a clock that moves (each run's id starts with its start time)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    ticks = itertools.count()
    env = Environment(stdout=out, stderr=err, environ=environ,
                      clock=lambda: start + timedelta(milliseconds=next(ticks)))
    return Result(run(list(args), env), out.getvalue(), err.getvalue())


@pytest.fixture
def aws_repo(tmp_path: Path, endpoint: str) -> Path:
    moto_server.fresh_iam(moto_server.client("iam", endpoint), ("prod-admins", "break-glass"),
                          ("alice", "bob", "carol"))
    return write_repo(tmp_path / "repo", endpoint, requests={
        "access-requests/prod-admin/alice-inc.yaml":
            request("alice", "prod-admin", "2026-11-23T12:00:00Z"),
        "access-requests/prod-admin/bob-inc.yaml":
            request("bob", "prod-admin", "2026-11-23T12:00:00Z"),
    })


def apply(repo: Path, endpoint: str, url: str, start: datetime, *extra: str) -> Result:
    return invoke("apply", "--skip-approval", "--confirm", "--repo", str(repo), "--audit-file",
                  str(repo.parent / f"audit-{start:%H%M%S}.jsonl"), "--audit-sink", url,
                  "--now", "2026-11-23T10:00:00Z", *extra, environ=environ(endpoint),
                  start=start)


def test_a_run_finishes_a_killed_runs_change_from_the_sink_and_says_so_for_later_runs(
        aws_repo: Path, endpoint: str, s3: Any) -> None:
    bucket = locked_bucket(s3)
    url = f"s3://{bucket}/audit/prod"
    iam = moto_server.client("iam", endpoint)
    # A run on another runner granted alice and was killed before its outcome line.
    killed = AuditLog(None, None, sink=sink(endpoint, bucket, TEN))
    killed.record(event("started"), stream=False)
    iam.add_user_to_group(GroupName="prod-admins", UserName="alice")

    result = apply(aws_repo, endpoint, url, TEN + timedelta(minutes=15))
    assert result.code == 0, result.err
    finished = [e for e in result.events() if e["principal"] == "alice"]
    assert [(e["action"], e["outcome"]) for e in finished] == [("grant", "done")]
    assert "finished for an interrupted run" in finished[0]["detail"]
    ends = [k for k in keys(s3, bucket) if k.endswith(".json")]
    assert [k.rsplit("/", 1)[1] for k in ends] == [END_SETTLING], \
        "the run that finished another's change must be read again by later runs"

    # The next run reads both: the killed run's started line has its outcome; nothing to do.
    again = apply(aws_repo, endpoint, url, TEN + timedelta(minutes=30))
    assert again.code == 0, again.err
    assert again.events() == []
    export = invoke("report", "--from", url, "--format", "json", environ=environ(endpoint),
                    start=TEN)
    assert export.code == 0, export.err
    assert export.json()["complete"] is True
    assert "complete:" in export.err


def test_report_from_the_sink_names_each_change_without_an_outcome(
        aws_repo: Path, endpoint: str, s3: Any) -> None:
    bucket = plain_bucket(s3)
    url = f"s3://{bucket}/audit/prod"
    assert apply(aws_repo, endpoint, url, TEN).code == 0
    killed = AuditLog(None, None, sink=sink(endpoint, bucket, TEN + timedelta(hours=1)))
    killed.record(event("started", "carol", action="revoke"), stream=False)
    s3.put_object(Bucket=bucket, Key="audit/prod/2026/11/23/zz-by-hand/000001.jsonl",
                  Body=b'{"action": "grant", "outcome": "done"}\nnot json\n')

    csv_export = invoke("report", "--from", url, environ=environ(endpoint), start=TEN)
    assert csv_export.code == 1
    header, *rows = csv_export.out.splitlines()
    assert header.startswith("run,time,action,outcome,request")
    assert sum(",grant,done," in row for row in rows) == 3
    assert "incomplete: run " in csv_export.err and "has no outcome" in csv_export.err
    assert "revoke carol on aws-test:iam_group(group=prod-admins)" in csv_export.err
    assert "zz-by-hand/000001.jsonl line 2: not an audit line" in csv_export.err
    md = invoke("report", "--from", url, "--format", "md", environ=environ(endpoint), start=TEN)
    assert md.code == 1 and "**incomplete**: 2 problem(s)" in md.out


def test_a_sink_that_cannot_be_read_stops_the_run_before_any_change(
        aws_repo: Path, endpoint: str) -> None:
    iam = moto_server.client("iam", endpoint)
    result = apply(aws_repo, endpoint, "s3://audit-no-such-bucket/x", TEN)
    assert result.code == 1
    assert "audit sink:" in result.err and "NoSuchBucket" in result.err
    assert "no change made" in result.err
    assert iam.get_group(GroupName="prod-admins")["Users"] == []


@pytest.mark.parametrize("url", ["s3:/x/y", "s3://UPPER/x", "s3://bucket/a//b", "gs://b/x"])
def test_a_malformed_sink_is_a_usage_error(aws_repo: Path, endpoint: str, url: str) -> None:
    result = apply(aws_repo, endpoint, url, TEN)
    assert result.code == 2, result.err
    assert "--audit-sink" in result.err and "Traceback" not in result.err
