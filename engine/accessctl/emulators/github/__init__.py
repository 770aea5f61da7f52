"""A GitHub REST API emulator: users, orgs, teams, repositories with a small git store, pulls.

It answers under `/api/v3` (GitHub Enterprise Server's prefix, which PyGithub uses for any
`base_url` that is not api.github.com) in GitHub's wire format: `Authorization: token ...`,
`Link` pagination with `page`/`per_page` (default 30, at most 100), error bodies
`{"message": ..., "documentation_url": ...}` (422 with `errors`), `x-ratelimit-*` headers, and a
429 with `Retry-After`. Every URL in a response is absolute on the emulator's own base URL, so
PyGithub follows them back here. Every response is kept in `responses` so tests can check it
against GitHub's OpenAPI description.

Behaviours modelled on purpose because approval verification depends on them:
- `commits/{sha}/pulls` finds the merged pull request behind a commit on the default branch
  whether it was merged with a merge commit, squashed, or rebased; off the default branch it also
  lists open pull requests that contain the commit.
- A review keeps the commit it was given on (`commit_id`); pushing to a pull request moves its
  head but leaves earlier reviews on the older commit, as GitHub does without "dismiss stale
  reviews". A dismissed review turns into state DISMISSED.
- Listing commits with `path=` simplifies history like `git log -- path` (a merge that took the
  file from one parent is skipped), so the newest commit touching a request file is the pull
  request's own commit, the squash commit or the rebased commit.
- Commits, trees and blobs have real git object IDs (`git_objects` hands out the objects, as a
  fetch would), so a local clone of the emulator's default branch has the very SHAs the API
  names: the engine reads history from git and asks the API about the same commits.
- `commits?path=` lists newest first by author date, as GitHub shows commits: a backdated commit
  sorts below older ones.
- A pull request's `base.sha` is where its base branch stood when it was opened or last pushed
  to; merging does not refresh it. Merges are three-way per line: changes to different lines of
  one file from both sides combine (a conflict only where they touch).
- Adding an outside collaborator creates a pending invitation (201) that the user must accept; an
  organization member is added at once (204). Adding a non-member of the organization to a team
  leaves a pending membership until they join.
- Teams nest (`add_team(..., parent=...)`): the REST member list and membership look-up of a
  team include its child teams' members, as GitHub documents; GraphQL's `members(membership:
  IMMEDIATE)` (the one query `POST /api/graphql` answers) lists only its own.
- A team synchronized with an identity provider (`sync_team_with_idp`, or an Enterprise
  Managed Users external group) refuses membership changes through the API with a 403 (GitHub
  documents the refusal, not its wording, which is ours), and names its groups under
  `.../team-sync/group-mappings` (or `.../external-groups`).

The seeding helpers (`add_user`, `add_org`, `add_team`, `add_repo`, `commit`, `open_pull`,
`submit_review`, `merge_pull`, `push_direct`, ...) build scenarios for tests and for `accessctl
demo`; they take and return plain values and never go through HTTP.

Where things are: `wire.py` (constants, error bodies, the App permission each route needs),
`state.py` (the records), `rate_limits.py`, `server.py` (auth, faults, the response log,
pagination), then one mixin per part of the API, each serving its own routes: `accounts.py`
(users, orgs, tokens), `teams.py`, `git.py` (commits, compare, refs, seeding commits; the graph
and merges are `accessctl.emulators.git_store`'s), `repos.py` (metadata, branches, contents:
reading, and creating or updating a file by a commit), `pulls.py` (pull requests and merging),
`reviews.py` (reviews, review requests), `issues.py` (issues, pull requests seen as issues, and
their comments), `checks.py` (statuses, check runs), `collaborators.py` (and invitations),
`graphql.py`. `emulator.py` combines them into `GitHubEmulator` and holds the table
of route groups.
"""

from __future__ import annotations

from accessctl.emulators.git_store import FileContent, GitObjects
from accessctl.emulators.github.emulator import GitHubEmulator
from accessctl.emulators.github.state import (
    Account,
    Comment,
    Commit,
    Invitation,
    Issue,
    LoggedResponse,
    Org,
    Pull,
    Repo,
    Review,
    Team,
)
from accessctl.emulators.github.wire import (
    API,
    DEFAULT_LOGIN,
    DEFAULT_PER_PAGE,
    DEFAULT_TOKEN,
    DOCS,
    GRAPHQL_POINTS,
    MAX_PER_PAGE,
    RATE_LIMIT,
    REVIEW_EVENTS,
    REVIEW_STATES,
    ROLE_ALIASES,
    ROLES,
    github_error,
    invalid,
    not_found,
    required_permission,
    role_of,
)

__all__ = [
    "API", "DEFAULT_LOGIN", "DEFAULT_PER_PAGE", "DEFAULT_TOKEN", "DOCS", "GRAPHQL_POINTS",
    "MAX_PER_PAGE", "RATE_LIMIT", "REVIEW_EVENTS", "REVIEW_STATES", "ROLES", "ROLE_ALIASES",
    "Account", "Comment", "Commit", "FileContent", "GitHubEmulator", "GitObjects", "Invitation",
    "Issue", "LoggedResponse", "Org", "Pull", "Repo", "Review", "Team", "github_error", "invalid",
    "not_found", "required_permission", "role_of",
]
