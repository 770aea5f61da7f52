"""The small interface the engine needs from GitHub or GitLab, and the records it returns."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from accessctl.read.load import FileSource

RATIFY = "accessctl: ratified"
"""The first line of a note that ratifies a merged break-glass merge request, where the platform
takes no approval after the merge (GitLab)."""


class ReviewState(enum.StrEnum):
    APPROVED = "APPROVED"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    COMMENTED = "COMMENTED"
    DISMISSED = "DISMISSED"
    PENDING = "PENDING"


@dataclass(frozen=True)
class Review:
    login: str
    state: ReviewState
    commit_id: str | None
    submitted_at: datetime | None
    is_bot: bool = False
    note: str | None = None
    """Why the platform's record cannot count, where the adapter knows (e.g. GitLab settings)."""


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    author: str
    author_is_bot: bool
    head_sha: str
    base_ref: str
    base_sha: str
    merged: bool
    merged_at: datetime | None
    merge_commit_sha: str | None
    changed_files: tuple[str, ...]
    added_files: tuple[str, ...] | None = None
    """The changed files the pull request created (None: not known). Break-glass serves only a
    request file a pull request adds: changing an existing request is an extension, which
    needs fresh approval (invariant 6)."""
    head_blobs: tuple[tuple[str, str], ...] | None = None
    """(path, blob ID at the head commit) of each changed file that the head still has, where
    the platform says (GitHub's pull request files do): what the approvals saw, to compare with
    what is granted (invariant 11). None: not known."""

    head_ref: str = ""
    """The branch it was opened from ("" where not known). A request bot's pull request names
    the issue it was opened from there (approval/on_behalf.py)."""
    opened_for: str | None = None
    """For a request bot's pull request: who opened the issue its branch names, as the VCS
    answered when the verifier asked (None: not asked, or no such issue)."""

    def head_blob(self, path: str) -> str | None:
        return dict(self.head_blobs or ()).get(path)


class Vcs(Protocol):
    """One repository on GitHub or GitLab. Implementations cache what they read within a run."""

    kind: str
    """"github" or "gitlab": selects the CODEOWNERS dialect."""

    default_branch: str

    def last_commit_touching(self, path: str, ref: str) -> str | None:
        """The newest commit on `ref`'s first-parent history that changed `path`."""
        ...

    def merged_pull_request_for(self, commit_sha: str, path: str) -> PullRequest | None:
        """The merged pull/merge request into the default branch that brought `commit_sha`.

        Merge commits, squash and rebase merges are all found. None: a direct push.
        """
        ...

    def pull_request(self, number: int) -> PullRequest:
        """An open or closed pull request by number, with its changed files."""
        ...

    def recently_merged(self) -> Iterator[PullRequest]:
        """Merged pull requests into the default branch, the most recently updated first, read
        lazily (100 a call), without their files: one call finds many merges' pull requests."""
        ...

    def pulls_for_commit(self, commit_sha: str) -> list[PullRequest]:
        """The pull requests the platform associates with a commit (for a commit on the default
        branch: the merged one that brought it), without their files (`with_files`)."""
        ...

    def with_files(self, pull: PullRequest) -> PullRequest:
        """`pull` with its changed files (and their blobs at the head, where known)."""
        ...

    def current_login(self) -> str:
        """The login the token belongs to."""
        ...

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> str:
        """Open a pull request from branch `head`; returns its web URL."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        """Create the pull request's comment that contains `marker`, or edit it in place."""
        ...

    def approve(self, pull: PullRequest, body: str, marker: str) -> None:
        """Approve the pull request's head commit as the engine's own account, once: nothing is
        done when an approval of that commit containing `marker` is already there. Only a
        visible trace of an auto-approval rule: the engine never counts its own review."""
        ...

    def ask_for_review(self, pull: PullRequest, users: Sequence[str], teams: Sequence[str],
                       body: str, marker: str) -> bool:
        """Ask `users` and `teams` ('@org/team') to review the pull request, merged or not, and
        write the comment holding `marker` (mentioning them). False when the platform refused
        the review request itself, so that the comment's mentions are all they get."""
        ...

    def reviews(self, pull: PullRequest) -> list[Review]:
        """Every review or approval on the pull request, oldest first."""
        ...

    def ratifications(self, pull: PullRequest) -> list[Review]:
        """Approvals given after the merge that `reviews` cannot carry (GitLab takes no approval
        on a merged merge request: `RATIFY` notes stand in); [] where `reviews` has them."""
        ...

    def issue_author(self, number: int) -> str | None:
        """Who opened issue `number` of this repository; None when there is no such issue (or
        it is a pull request). A request bot's pull request is judged by it."""
        ...

    def team_members(self, team: str) -> frozenset[str] | None:
        """Casefolded logins of '@org/team' (all pages), or None when the team is unknown."""
        ...

    def files_at(self, sha: str) -> FileSource:
        """The repository's files as they were at `sha` (for the base commit's policies)."""
        ...

    def codeowners_paths(self) -> tuple[str, ...]:
        """Where this platform looks for CODEOWNERS, in its order (it uses the first found)."""
        ...
