"""The audit sink: audit lines kept in S3, outside the runner, as objects never overwritten.

A CI runner's disk is gone when the job ends, and with it a killed run's `started` lines. With
`--audit-sink s3://bucket/prefix` every run also writes its audit lines to S3, each batch as a new
object under a key no other write uses:

    <prefix>/YYYY/MM/DD/<run id>/<sequence>.jsonl     the lines, in order
    <prefix>/YYYY/MM/DD/<run id>/end.json             the run ended with every change finished
    <prefix>/YYYY/MM/DD/<run id>/end-settling.json    ... and it finished changes of earlier runs

Objects are only ever created (PutObject with `If-None-Match: *`), never replaced or deleted, so
the sink works on a bucket with S3 Object Lock in compliance mode and needs no delete permission.
A `started` line is in S3 before the platform write it announces (AuditLog.record); other lines
wait and travel with the next `started` line or the run's last batch.

At the start of a mutating run the journal (change/journal.py) reads back the lines of the runs
that may hold an unfinished change: those with no end object (killed, or still running) and those
that finished earlier runs' changes (their outcome lines close `started` lines elsewhere). Runs
that ended cleanly are only listed, never downloaded, so a steady-state run costs a listing.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEME = "s3://"
LOOKBACK = timedelta(days=30)
"""How far back a run looks for unfinished changes (the sink's listing starts that many days
ago). `accessctl report --from` reads everything."""
END = "end.json"
END_SETTLING = "end-settling.json"
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


class SinkError(Exception):
    """The sink could not be read or written; the message says which and why."""


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str
    """Without a trailing slash; may be empty."""

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)


def parse_url(text: str) -> Location:
    """`s3://bucket/prefix` -> Location; ValueError with what is wrong."""
    if not text.startswith(SCHEME):
        raise ValueError(f"{text!r} is not an s3:// URL (s3://bucket/prefix)")
    bucket, _, prefix = text[len(SCHEME):].partition("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        raise ValueError(f"{text!r}: {bucket!r} is not an S3 bucket name")
    prefix = prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise ValueError(f"{text!r}: the prefix has an empty, '.' or '..' part")
    return Location(bucket, prefix)


def new_run_id(started: datetime) -> str:
    """Sorts by start time; the random part keeps two runs started the same second apart."""
    return f"{started.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class RunObjects:
    folder: str
    """`<prefix>/YYYY/MM/DD/<run id>`"""
    lines: tuple[str, ...]
    """The keys of its line objects, in order."""
    end: str | None
    """END, END_SETTLING, or None: the run was killed or is still going."""

    @property
    def run_id(self) -> str:
        return self.folder.rsplit("/", 1)[-1]


class S3Sink:
    """One run's writer, and the reader of the runs before it."""

    def __init__(self, location: Location, environ: Mapping[str, str], started: datetime,
                 client: Any = None) -> None:
        self.location = location
        self.started = started.astimezone(UTC)
        self.run_id = new_run_id(self.started)
        self.folder = location.key(f"{self.started:%Y/%m/%d}", self.run_id)
        self.sequence = 0
        self.settling = False
        """Set by the journal when this run finishes (or takes over) earlier runs' changes."""
        self._client = client if client is not None else make_client(environ)
        self._conditional = True

    # -- writing -------------------------------------------------------------------------------
    def put(self, lines: list[str]) -> str:
        """Write `lines` as this run's next object; its key. Raises SinkError."""
        self.sequence += 1
        key = f"{self.folder}/{self.sequence:06d}.jsonl"
        self._create(key, "".join(line + "\n" for line in lines).encode("utf-8"),
                     "application/x-ndjson")
        return key

    def end(self) -> str:
        """Say that every change this run started has its outcome in the sink."""
        key = f"{self.folder}/{END_SETTLING if self.settling else END}"
        body = {"run": self.run_id, "objects": self.sequence, "settling": self.settling}
        self._create(key, (json.dumps(body) + "\n").encode("utf-8"), "application/json")
        return key

    def _create(self, key: str, body: bytes, content_type: str) -> None:
        import hashlib
        from base64 import b64encode

        arguments: dict[str, Any] = {
            "Bucket": self.location.bucket, "Key": key, "Body": body,
            "ContentType": content_type,
            # Object Lock buckets refuse a PutObject without an integrity check.
            "ContentMD5": b64encode(hashlib.md5(body).digest()).decode(),
        }
        if self._conditional:
            arguments["IfNoneMatch"] = "*"  # never replace an object, whatever the key
        try:
            self._client.put_object(**arguments)
        except Exception as error:
            code = _code(error)
            if code in ("NotImplemented", "501") and self._conditional:
                # A store without conditional writes: keys are unique per run all the same.
                self._conditional = False
                self._create(key, body, content_type)
                return
            if code in ("PreconditionFailed", "412"):
                raise SinkError(f"{self.location.url}: {key} already exists: another run "
                                "wrote under the same run id; nothing is overwritten") from None
            raise SinkError(f"{self.location.url}: cannot write {key}: {_describe(error)}"
                            ) from None

    # -- reading -------------------------------------------------------------------------------
    def runs(self, since: datetime | None = None) -> list[RunObjects]:
        """Every run folder under the prefix (from `since`'s day on), oldest first."""
        return [run for run in list_runs(self._client, self.location, since)
                if run.folder != self.folder]

    def earlier_lines(self) -> Iterator[str]:
        """The lines of the earlier runs (within LOOKBACK) that may matter for unfinished
        changes: runs without an end object, and runs that finished other runs' changes."""
        for run in self.runs(self.started - LOOKBACK):
            if run.end == END:
                continue
            yield from read_lines(self._client, self.location, run.lines)


def list_runs(client: Any, location: Location, since: datetime | None) -> list[RunObjects]:
    prefix = location.key("") + "/" if location.prefix else ""
    arguments: dict[str, Any] = {"Bucket": location.bucket, "Prefix": prefix}
    if since is not None:
        # Keys start with the day: the listing begins at `since`'s day, not at the first run.
        arguments["StartAfter"] = f"{prefix}{since.astimezone(UTC) - timedelta(days=1):%Y/%m/%d}/~"
    folders: dict[str, tuple[list[str], list[str]]] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", ()):
                key = str(item["Key"])
                folder, _, name = key.rpartition("/")
                lines, ends = folders.setdefault(folder, ([], []))
                if name.endswith(".jsonl"):
                    lines.append(key)
                elif name in (END, END_SETTLING):
                    ends.append(name)
    except Exception as error:
        raise SinkError(f"{location.url}: cannot list the audit objects: {_describe(error)}"
                        ) from None
    runs = []
    for folder, (lines, ends) in sorted(folders.items()):
        end = END_SETTLING if END_SETTLING in ends else (END if ends else None)
        runs.append(RunObjects(folder, tuple(sorted(lines)), end))
    return runs


def read_lines(client: Any, location: Location, keys: tuple[str, ...]) -> Iterator[str]:
    for key in keys:
        yield from read_object(client, location, key)


def read_object(client: Any, location: Location, key: str) -> list[str]:
    try:
        body: bytes = client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
    except Exception as error:
        raise SinkError(f"{location.url}: cannot read {key}: {_describe(error)}") from None
    return body.decode("utf-8", errors="replace").splitlines()


def make_client(environ: Mapping[str, str]) -> Any:
    """An S3 client from the run's environment (keys, or boto3's own chain: OIDC web identity,
    profile, instance role); AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for S3-compatible stores."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    )
    endpoint = next((environ[v] for v in ENDPOINT_VARIABLES if environ.get(v)), None)
    config = Config(retries={"max_attempts": 5, "mode": "standard"},
                    connect_timeout=10, read_timeout=30)
    return session.client("s3", endpoint_url=endpoint, config=config)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status:
            return str(status)
    return ""


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        detail = response["Error"]
        return f"{detail.get('Code', '')}: {detail.get('Message', '')}".strip(": ")
    name = type(error).__name__
    if name == "NoCredentialsError":
        return ("AWS credentials not found: in CI, configure OIDC "
                "(aws-actions/configure-aws-credentials); locally, set AWS_PROFILE or the "
                "AWS_* environment variables")
    return f"{name}: {error}"


def open_sink(url: str | None, environ: Mapping[str, str], started: datetime) -> S3Sink | None:
    """The sink named by --audit-sink (None: none). ConfigError when boto3 is missing."""
    from accessctl.core.errors import ConfigError

    if not url:
        return None
    try:
        location = parse_url(url)
    except ValueError as error:
        raise ConfigError(f"--audit-sink: {error}") from None
    try:
        return S3Sink(location, environ, started)
    except ImportError:
        raise ConfigError("--audit-sink needs boto3: pip install 'accessctl[aws]'") from None


def check_url(ctx: object, param: object, value: str | None) -> str | None:
    """A click callback: a malformed --audit-sink is a usage error before anything runs."""
    import click

    if value:
        try:
            parse_url(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    return value or None
