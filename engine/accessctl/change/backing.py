"""Which requests a run must verify with the VCS: only those whose grant changes now. Pure.

Verifying a request costs API calls (its pull request, files, reviews), and GitHub gives a
workflow's token 1,000 calls an hour. Most live requests back a grant that already exists and
that the engine itself made for that very file: verifying them again every run would make each
run cost calls in proportion to the grants. So, after observing the platforms:

- a request whose pair is absent from a target that was read is verified (the grant is about to
  be made: a new grant, or a re-grant after someone removed it);
- a request whose pair is present is trusted without a call only when the engine's ledger
  records the grant as its own (`granted`) for that request, with the same blob as the file has
  now: the engine verified exactly these bytes when it made the grant. A present member without
  such an entry (put there by hand, an entry of a lost ledger, a request edited since) is
  verified before it counts as backed; a pair recorded `standing` is not the engine's to change,
  so nothing is verified for it;
- a request on a target that could not be read changes nothing this run and waits.

Trusting the ledger is trusting whoever can push its ref: sign it (ACCESSCTL_LEDGER_KEY, see
change/ledger_store.py) where that matters. A forged entry can keep a member whom someone added
by hand until the request's own expiry, never grant anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from accessctl.change.ledger import Ledger, Origin
from accessctl.core.model import Target, principal_key
from accessctl.judge.evaluate import Evaluation, State


@dataclass
class Selection:
    verify: list[str] = field(default_factory=list)
    """Paths to verify now, sorted."""
    trusted: set[str] = field(default_factory=set)
    """Paths whose grant the engine made for these very bytes: backed without a call."""
    waiting: set[str] = field(default_factory=set)
    """Live paths neither verified nor trusted this run (nothing changes for them now)."""


def select(evaluation: Evaluation, observed: Mapping[Target, frozenset[str]],
           ledgers: Mapping[str, Ledger] | None, blob_of: Callable[[str], str | None],
           *, only: Collection[str] = (), targets: Collection[Target] | None = None,
           present_only: bool = False) -> Selection:
    """Split the active requests of `evaluation` (judged without approval) into those to verify,
    those trusted, and those that wait. `only`: provider instances in scope; `targets`: only
    requests on these targets are considered (reconcile: the exclusive ones); `present_only`:
    only pairs already on the platform matter (reconcile never grants)."""
    pairs: dict[tuple[Target, str], list[str]] = {}
    selection = Selection()
    for path, judgement in evaluation.judgements.items():
        if judgement.state not in (State.ACTIVE, State.PENDING) or judgement.target is None \
                or judgement.principal is None:
            continue
        target = judgement.target
        if (only and target.instance not in only) or (targets is not None
                                                      and target not in targets):
            continue
        if judgement.state is State.PENDING:
            selection.waiting.add(path)  # nothing is granted before it starts
            continue
        pairs.setdefault((target, principal_key(judgement.principal)), []).append(path)
    for (target, key), paths in pairs.items():
        members = observed.get(target)
        if members is None or (present_only and key not in members):
            selection.waiting.update(paths)
            continue
        if key not in members:
            selection.verify.extend(paths)
            continue
        ledger = ledgers.get(target.instance) if ledgers is not None else None
        entry = ledger.entries.get((target.display, key)) if ledger is not None else None
        if entry is not None and entry.origin is Origin.STANDING:
            selection.waiting.update(paths)
            continue
        if entry is not None and entry.origin is Origin.GRANTED:
            recorded = dict(zip(entry.requests, entry.blobs, strict=False))
            same = {p for p in paths if recorded.get(p) and recorded[p] == blob_of(p)}
            if same:
                selection.trusted.update(same)
                selection.waiting.update(set(paths) - same)
                continue
        selection.verify.extend(paths)
    selection.verify.sort()
    return selection
