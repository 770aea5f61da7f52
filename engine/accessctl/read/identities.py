"""identities.yaml: the people (by VCS login, with their account on each platform), the teams,
the admins, the limit on active grants and the request bots."""

from __future__ import annotations

from accessctl.core.model import Finding, Person
from accessctl.read.documents import read_document
from accessctl.read.paths import IDENTITIES_FILE
from accessctl.read.sources import FileSource


def load_identities(
    source: FileSource, found: list[Finding]
) -> tuple[dict[str, Person] | None, dict[str, frozenset[str]], tuple[str, ...], int | None,
           tuple[str, ...]]:
    """People by case-folded login, teams, admins, max_active_grants and request_bots; people
    None when the file is not usable."""
    document, problems = read_document(source, IDENTITIES_FILE, "identities")
    found.extend(problems)
    if document is None:
        return None, {}, (), None, ()
    people: dict[str, Person] = {}
    seen: dict[str, str] = {}
    for login, accounts in document.data["people"].items():
        folded = login.casefold()
        if folded in seen:
            # Logins are case-insensitive on every VCS: two entries would be one person twice.
            found.append(Finding(
                document.location(("people", login)), "duplicate-person",
                f"{login!r} is the same login as {seen[folded]!r} (logins ignore case): keep one",
            ))
            continue
        seen[folded] = login
        people[folded] = Person(login, dict(accounts), document.location(("people", login)))
    teams = {
        name.casefold(): frozenset(m.casefold() for m in members)
        for name, members in (document.data.get("teams") or {}).items()
    }
    admins = tuple(document.data.get("admins") or ())
    limit = (document.data.get("limits") or {}).get("max_active_grants")
    bots = tuple(str(b) for b in document.data.get("request_bots") or ())
    return people, teams, admins, None if limit is None else int(limit), bots
