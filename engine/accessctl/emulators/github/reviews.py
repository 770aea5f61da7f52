"""Pull request reviews (kept on the commit they were given on; dismissal) and review requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accessctl.emulators.github.pulls import Pulls
from accessctl.emulators.github.state import Pull, Repo, Review
from accessctl.emulators.github.wire import (
    REVIEW_EVENTS,
    REVIEW_STATES,
    Routes,
    github_error,
    int_param,
    invalid,
    login_key,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Reviews(Pulls):
    def _review_routes(self) -> Routes:
        pull = "/repos/{owner}/{repo}/pulls/{pull_number}"
        return [
            ("GET", f"{pull}/reviews", self._list_reviews),
            ("POST", f"{pull}/reviews", self._create_review),
            ("GET", f"{pull}/reviews/{{review_id}}", self._get_review),
            ("PUT", f"{pull}/reviews/{{review_id}}/dismissals", self._dismiss_review),
            ("GET", f"{pull}/requested_reviewers", self._requested_reviewers),
            ("POST", f"{pull}/requested_reviewers", self._request_reviewers),
        ]

    # -- JSON shapes ------------------------------------------------------------------------------
    def _review_json(self, repo: Repo, pull: Pull, review: Review) -> JSON:
        pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}"
        html = f"{self.web}/{repo.full_name}/pull/{pull.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id, "node_id": node_id("PRR", review.id),
            "user": self._user_json(review.user), "body": review.body, "state": review.state,
            "html_url": html, "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "submitted_at": stamp(review.submitted_at), "commit_id": review.commit_id,
            "author_association": self._association(repo, review.user),
        }

    def _review_requests_json(self, repo: Repo, pull: Pull) -> JSON:
        return {"users": [self._user_json(k) for k in pull.requested_users],
                "teams": [self._team_json(self.teams[(login_key(repo.owner), slug)])
                          for slug in pull.requested_teams]}

    # -- handlers ----------------------------------------------------------------------------------
    def _list_reviews(self, request: Request) -> Response:
        with self.lock:
            repo, pull = self._pull(request)
            return self._paginate(request, [self._review_json(repo, pull, r)
                                            for r in pull.reviews])

    def _create_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            actor = self._actor(request)
            data = request.json() or {}
            event = data.get("event")
            if event not in REVIEW_EVENTS:
                raise invalid("event must be APPROVE, REQUEST_CHANGES or COMMENT",
                              "PullRequestReview", "event")
            if login_key(actor.login) == login_key(pull.user) and event != "COMMENT":
                raise github_error(422, "Unprocessable Entity", [
                    "Can not approve your own pull request"
                    if event == "APPROVE" else "Can not request changes on your own pull request"])
            review = self._review(repo, pull, actor.login, REVIEW_EVENTS[event],
                                  data.get("commit_id"), str(data.get("body") or ""), None)
            return self._review_json(repo, pull, review)

    def _get_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            review_id = int_param(request, "review_id")
            for review in pull.reviews:
                if review.id == review_id:
                    return self._review_json(repo, pull, review)
            raise not_found()

    def _dismiss_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            data = request.json() or {}
            if not data.get("message"):
                raise invalid("", "PullRequestReview", "message", "missing_field")
            review_id = int_param(request, "review_id")
            for review in pull.reviews:
                if review.id == review_id:
                    if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
                        raise github_error(422, "Can not dismiss a commented pull request "
                                                "review")
                    review.state = "DISMISSED"
                    return self._review_json(repo, pull, review)
            raise not_found()

    def _requested_reviewers(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            return self._review_requests_json(repo, pull)

    def _request_reviewers(self, request: Request) -> Response:
        """POST requested_reviewers: 201 with the pull request; 422 when a reviewer cannot be
        asked (the author, or a user without access to the repository: the contract's "not a
        collaborator") or a team is not one of the owner organisation's."""
        with self.lock:
            repo, pull = self._pull(request)
            data = request.json() or {}
            users = [str(u) for u in data.get("reviewers") or []]
            teams = [str(t) for t in data.get("team_reviewers") or []]
            org = self.orgs.get(login_key(repo.owner))
            for login in users:
                key = login_key(login)
                if key == login_key(pull.user):
                    raise github_error(422, "Review cannot be requested from pull request "
                                            "author.")
                if key not in self.accounts or not (
                        key in repo.collaborators or key == login_key(repo.owner)
                        or (org is not None and key in org.members)):
                    raise github_error(422, "Reviews may only be requested from "
                                            "collaborators. One or more of the users or teams "
                                            f"you specified is not a collaborator of the "
                                            f"{repo.full_name} repository.")
            for slug in teams:
                if (login_key(repo.owner), slug.casefold()) not in self.teams:
                    raise github_error(422, "Reviews may only be requested from "
                                            "collaborators. One or more of the users or teams "
                                            f"you specified is not a collaborator of the "
                                            f"{repo.full_name} repository.")
            for login in users:
                if login_key(login) not in pull.requested_users:
                    pull.requested_users.append(login_key(login))
            for slug in teams:
                if slug.casefold() not in pull.requested_teams:
                    pull.requested_teams.append(slug.casefold())
            pull.updated_at = self.clock()
            return Response(201, self._pull_json(repo, pull))

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def submit_review(self, repo: str, number: int, login: str, state: str = "APPROVED",
                      commit_id: str | None = None, body: str = "",
                      at: datetime | None = None) -> int:
        """A review on the pull request's head (or on `commit_id`); returns the review id."""
        if state not in REVIEW_STATES:
            raise ValueError(f"review state must be one of {REVIEW_STATES}")
        with self.lock:
            store = self.repo(repo)
            pull = store.pulls[number]
            return self._review(store, pull, self._existing(login).login, state, commit_id,
                                body, at).id

    def dismiss_review(self, repo: str, number: int, review_id: int) -> None:
        with self.lock:
            for review in self.repo(repo).pulls[number].reviews:
                if review.id == review_id:
                    review.state = "DISMISSED"
                    return
            raise KeyError(f"no review {review_id} on #{number}")

    def requested_reviewers(self, repo: str, number: int) -> tuple[list[str], list[str]]:
        """(logins, team slugs) whose review is requested on the pull request."""
        with self.lock:
            pull = self.repo(repo).pulls[number]
            return ([self.accounts[k].login for k in pull.requested_users],
                    list(pull.requested_teams))

    def _review(self, repo: Repo, pull: Pull, login: str, state: str, commit_id: Any,
                body: str, at: datetime | None) -> Review:
        if commit_id is not None and commit_id not in repo.commits:
            raise invalid("", "PullRequestReview", "commit_id")
        review = Review(next(self._ids), login, state, body, commit_id or pull.head_sha,
                        at or self.clock())
        pull.reviews.append(review)
        if login_key(login) in pull.requested_users:  # a requested reviewer who reviews is done
            pull.requested_users.remove(login_key(login))
        pull.updated_at = review.submitted_at
        return review
