"""Invariant 13: one file never stops the run.

An unexpected error while judging one request (a bug, or a VCS call made for that request that
fails) becomes an `internal-error` finding against that file. The request is then judged INVALID:
it backs no grant, but the pair it names stays the engine's to revoke. Every other request is
judged as usual, and the run exits 1, never 3. The guards sit where requests are judged one by
one: evaluate's per-request passes, the ratification sweep, and approval verification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TextIO, TypeVar

from accessctl.core.model import Finding, Request

INTERNAL_ERROR = "internal-error"
_MAX_DETAIL = 300

T = TypeVar("T")


def internal_error(request: Request, doing: str, error: BaseException) -> Finding:
    """The finding for `error`, raised while `doing` something for `request`."""
    # One line, bounded: the error's text can quote the file's values.
    detail = " ".join(f"{type(error).__name__}: {error}".split())
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    return Finding(
        request.location, INTERNAL_ERROR,
        f"{doing} failed ({detail}): this request is treated as invalid until it can be judged, "
        "and every other request was handled as usual; if this happens again, report this as "
        "a bug",
    )


def is_internal(finding: Finding) -> bool:
    return finding.code == INTERNAL_ERROR


def judge_each(requests: Iterable[Request], doing: str,
               judge: Callable[[Request], T]) -> tuple[dict[str, T], list[Finding]]:
    """`judge(request)` for each request, by path; one that raises is a finding instead."""
    results: dict[str, T] = {}
    findings: list[Finding] = []
    for request in requests:
        try:
            results[request.path] = judge(request)
        except Exception as error:  # one request never stops the run
            findings.append(internal_error(request, doing, error))
    return results, findings


def write_internal_errors(stream: TextIO, findings: Sequence[Finding]) -> bool:
    """Print the internal-error findings among `findings`; whether there were any."""
    internal = sorted({f for f in findings if is_internal(f)}, key=lambda f: f.location)
    for finding in internal:
        stream.write(f"error: {finding.location}: {finding.message} [{finding.code}]\n")
    return bool(internal)
