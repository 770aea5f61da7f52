"""A GitLab REST v4 emulator: users, groups, projects, members, a small git store, merge requests.

It speaks the wire format python-gitlab expects under `/api/v4`: the `PRIVATE-TOKEN` header,
URL-encoded paths as ids (`acme%2Finfra`), GitLab's pagination headers and `Link`, its error bodies
(`{"message": "404 Not found"}`, `{"error": "..."}`), and a 429 with `Retry-After` and
`RateLimit-*` headers. State lives in memory behind `self.lock`; the seeding helpers
(`add_user`, `add_project`, `open_merge_request`, `approve`, `merge`, ...) build scenarios for tests
and for `accessctl demo`.

GitLab behaviours are modelled on purpose because the engine's security depends on them:
approvals are reset when the merge request's source branch is pushed to (the project setting
"Remove all approvals when commits are added to the source branch", on by default here); each
approval says when it was given (`approved_at`) and each push makes a diff version (`.../versions`)
with its time; a commit maps back to its merge request whether it was merged with a merge commit,
squashed, or fast-forwarded; a Maintainer may edit anyone's note, and resolving a thread updates
its notes, without the note saying who did either.

`tier = "free"` plays GitLab Free (the FOSS code base): the merge request approvals it has are
the approve and unapprove endpoints and `GET .../merge_requests/:iid/approvals`, which answers
only `user_has_approved`, `user_can_approve`, `approved` and `approved_by` (with `approved_at`).
The project approval settings (`/projects/:id/approvals`), `approval_state`, `approval_rules`
and Code Owners approval rules are Premium: 404 on Free. Approvals are not reset by a push (that
setting is Premium too), and the author may approve their own merge request (the setting that
prevents it is Premium; GitLab's documentation does not say what Free does, so the emulator
takes the permissive answer the engine must withstand).

Where things are: `wire.py` (constants, error bodies, parameter parsing), `state.py` (the
records), `server.py` (token and scopes, the throttle, faults, pagination, look-ups), then one
mixin per part of the API, each serving its own routes: `users.py`, `members.py` (groups,
projects, memberships), `repository.py` (files, trees, branches, commits; the graph and merges
are `accessctl.emulators.git_store`'s), `merge_requests.py` (and merging), `approvals.py`
(settings, approvals, rules, code owners), `notes.py` (notes, discussions). `emulator.py`
combines them into `GitLabEmulator` and holds the table of route groups.
"""

from __future__ import annotations

from accessctl.emulators.git_store import FileContent
from accessctl.emulators.gitlab.emulator import GitLabEmulator
from accessctl.emulators.gitlab.state import (
    APPROVAL_SETTINGS,
    Approval,
    Commit,
    DiffVersion,
    Group,
    Member,
    MergeRequest,
    Note,
    Project,
    Rule,
    User,
)
from accessctl.emulators.gitlab.wire import (
    ACCESS_LEVELS,
    API,
    CODEOWNERS_PATHS,
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
)

__all__ = [
    "ACCESS_LEVELS", "API", "APPROVAL_SETTINGS", "CODEOWNERS_PATHS", "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE", "Approval", "Commit", "DiffVersion", "FileContent", "GitLabEmulator", "Group",
    "Member", "MergeRequest", "Note", "Project", "Rule", "User",
]
