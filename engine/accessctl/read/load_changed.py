"""Load what judging a few changed request files needs, not the whole repository.

`validate --changed` in a pull request's CI looks at one or two files; loading 10,000 requests
for that costs seconds. This loads the providers and identities, the changed request files, the
other requests of the same requesters (the rules on what one person holds at once and the
duplicate check compare a person's requests with each other), and only the entitlements those
requests name. What it does not see: problems in other people's requests and in entitlements
nobody here asks for; the whole-repository validate still reports those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from accessctl.core.model import Finding, Request
from accessctl.read.load import (
    ENTITLEMENTS_DIR,
    REQUESTS_DIR,
    FileSource,
    Loaded,
    TreeSource,
    load_policies,
    load_request,
    request_paths,
)


class _Entitlements:
    """A source whose entitlements directory holds only the named entitlements' files."""

    def __init__(self, source: FileSource, names: Iterable[str]) -> None:
        self.source = source
        self.names = frozenset(names)

    def list(self, directory: str) -> list[str]:
        listed = self.source.list(directory)
        if directory.strip("/") != ENTITLEMENTS_DIR:
            return listed
        prefix = ENTITLEMENTS_DIR + "/"
        return [p for p in listed if p.startswith(prefix) and "/" not in p[len(prefix):]
                and p[len(prefix):].rpartition(".")[0] in self.names]

    def read(self, path: str) -> bytes | None:
        return self.source.read(path)


def is_partial(changed: Sequence[str]) -> bool:
    """Only request files changed: the partial load applies. Anything else (a policy file, say)
    gets the whole-repository load."""
    return bool(changed) and all(p.startswith(REQUESTS_DIR + "/") for p in changed)


def same_requesters(source: FileSource, requests: Iterable[Request], skip: Iterable[str] = ()
                    ) -> dict[str, Request]:
    """The other requests of these requests' requesters (files are named `<requester>-...`),
    which the rules on what one person holds at once compare them with."""
    given = list(requests)
    people = {r.requester.casefold() for r in given}
    known = {*skip, *(r.path for r in given)}
    listed = request_paths(source)  # also what reports symbolic links anywhere, as before
    found: dict[str, Request] = {}
    if not people:
        return found
    prefixes = tuple(f"{person}-" for person in people)
    for path in listed:
        name = path.rpartition("/")[2].casefold()
        if path in known or not name.startswith(prefixes):
            continue
        request, _ = load_request(source, path)
        if request is not None and request.requester.casefold() in people:
            found[path] = request
    return found


def load_changed(source: FileSource, changed: Sequence[str]) -> Loaded:
    """Policies for, and the requests of, the changed request files' requesters."""
    found: list[Finding] = []
    requests: dict[str, Request] = {}
    wanted = sorted(set(changed))
    for path in wanted:
        if source.read(path) is None:
            continue  # deleted by the change: removing a request is always allowed
        request, problems = load_request(source, path)
        found.extend(problems)
        if request is not None:
            requests[path] = request
    # Other requests of the same people: compared with the changed ones, judged too.
    requests.update(same_requesters(source, requests.values(), skip=wanted))
    needed = {r.entitlement for r in requests.values()}
    policies, problems = load_policies(_Entitlements(source, needed))
    found.extend(problems)
    if isinstance(source, TreeSource):
        found.extend(source.refused)
    return Loaded(policies, [requests[p] for p in sorted(requests)], found)
