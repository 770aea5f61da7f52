"""Issues, pull requests seen as issues (GitHub numbers both from one sequence per repository),
and their comments.

Modelled as GitHub documents them: creating an issue sets labels only for a user with push
access (anyone else's labels are silently dropped); its author or a user with push access may
edit it, close it with a `state_reason` and reopen it; `GET .../issues/{n}` answers a pull
request too, with its `pull_request` links; a GitHub App token reaches an issue with the Issues
permission, and a pull request seen as an issue with Pull requests as well."""

from __future__ import annotations

import re
from typing import Any

from accessctl.emulators.github.pulls import Pulls
from accessctl.emulators.github.state import Comment, Issue, Repo
from accessctl.emulators.github.wire import (
    ROLES,
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

_ISSUE_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)(?:/|$)")
_COMMENT_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")


class Issues(Pulls):
    def _issue_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("POST", f"{r}/issues", self._create_issue),
            ("GET", f"{r}/issues/{{issue_number}}", self._get_issue),
            ("PATCH", f"{r}/issues/{{issue_number}}", self._update_issue),
            ("GET", f"{r}/issues/{{issue_number}}/comments", self._list_comments),
            ("POST", f"{r}/issues/{{issue_number}}/comments", self._create_comment),
            ("GET", f"{r}/issues/comments/{{comment_id}}", self._get_comment),
            ("PATCH", f"{r}/issues/comments/{{comment_id}}", self._update_comment),
        ]

    # -- App permissions: Pull requests also reaches a pull request seen as an issue ---------------
    def _permission_alternatives(self, request: Request, route: str, name: str
                                 ) -> tuple[str, ...]:
        if name != "issues":
            return super()._permission_alternatives(request, route, name)
        path = request.path.removeprefix("/api/v3")
        with self.lock:
            number: int | None = None
            repo = None
            if (match := _ISSUE_PATH.match(path)) is not None:
                repo = self.repos.get((login_key(match[1]), match[2].casefold()))
                number = int(match[3])
            elif (match := _COMMENT_PATH.match(path)) is not None:
                repo = self.repos.get((login_key(match[1]), match[2].casefold()))
                comment = repo.comments.get(int(match[3])) if repo else None
                number = comment.issue if comment else None
            if repo is not None and number in repo.pulls:
                return ("issues", "pull_requests")
        return ("issues",)

    # -- JSON shapes and look-ups -----------------------------------------------------------------
    def _comment_json(self, repo: Repo, comment: Comment) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}"
        kind = "pull" if comment.issue in repo.pulls else "issues"
        return {
            "id": comment.id, "node_id": node_id("IC", comment.id), "url": url,
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{comment.issue}"
                        f"#issuecomment-{comment.id}",
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{comment.issue}",
            "body": comment.body, "user": self._user_json(comment.user),
            "created_at": stamp(comment.created_at), "updated_at": stamp(comment.updated_at),
            "author_association": self._association(repo, comment.user),
        }

    def _label_json(self, repo: Repo, name: str) -> JSON:
        number = sum(ord(c) for c in name) + 1000 * len(name)
        return {"id": number, "node_id": node_id("LA", number),
                "url": f"{self.api}/repos/{repo.full_name}/labels/{name}", "name": name,
                "description": None, "color": "ededed", "default": False}

    def _issue_json(self, repo: Repo, number: int) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/issues/{number}"
        comments = sum(1 for c in repo.comments.values() if c.issue == number)
        common: dict[str, Any] = {
            "url": url, "repository_url": f"{self.api}/repos/{repo.full_name}",
            "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
            "events_url": f"{url}/events", "number": number, "assignee": None,
            "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
            "comments": comments,
        }
        if number in repo.pulls:
            pull = repo.pulls[number]
            html = f"{self.web}/{repo.full_name}/pull/{pull.number}"
            return {
                **common, "id": pull.id, "node_id": node_id("I", pull.id), "html_url": html,
                "state": pull.state, "state_reason": None, "title": pull.title,
                "body": pull.body or None, "user": self._user_json(pull.user), "labels": [],
                "created_at": stamp(pull.created_at), "updated_at": stamp(pull.updated_at),
                "closed_at": stamp(pull.closed_at) if pull.closed_at else None,
                "author_association": self._association(repo, pull.user),
                "pull_request": {
                    "url": f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}",
                    "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                    "merged_at": stamp(pull.merged_at) if pull.merged_at else None,
                },
            }
        issue = repo.issues[number]
        return {
            **common, "id": issue.id, "node_id": node_id("I", issue.id),
            "html_url": f"{self.web}/{repo.full_name}/issues/{number}", "state": issue.state,
            "state_reason": issue.state_reason, "title": issue.title,
            "body": issue.body or None, "user": self._user_json(issue.user),
            "labels": [self._label_json(repo, name) for name in issue.labels],
            "created_at": stamp(issue.created_at), "updated_at": stamp(issue.updated_at),
            "closed_at": stamp(issue.closed_at) if issue.closed_at else None,
            "closed_by": self._user_json(issue.closed_by) if issue.closed_by else None,
            "author_association": self._association(repo, issue.user),
        }

    def _issue_number(self, request: Request, repo: Repo) -> int:
        number = int_param(request, "issue_number")
        if number not in repo.pulls and number not in repo.issues:
            raise not_found()
        return number

    def _comment(self, request: Request) -> tuple[Repo, Comment]:
        repo = self._repo(request)
        comment = repo.comments.get(int_param(request, "comment_id"))
        if comment is None:
            raise not_found()
        return repo, comment

    def _can_push(self, repo: Repo, request: Request) -> bool:
        """Push access: the owner, an organization admin, a collaborator with write or more,
        or a GitHub App token that may write contents or issues."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self.token_permissions.get(token.strip())
        if granted is not None:
            return "write" in (granted.get("contents"), granted.get("issues"))
        key = login_key(self._actor(request).login)
        org = self.orgs.get(login_key(repo.owner))
        role = repo.collaborators.get(key)
        return (key == login_key(repo.owner) or (org is not None and org.members.get(key)
                                                 == "admin")
                or (role is not None and ROLES.index(role) >= ROLES.index("write")))

    @staticmethod
    def _labels(value: Any) -> list[str]:
        names: list[str] = []
        for item in value if isinstance(value, list) else []:
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        return names

    # -- handlers ----------------------------------------------------------------------------------
    def _create_issue(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            data = request.json() or {}
            title = data.get("title")
            if title is None or str(title).strip() == "":
                raise invalid("", "Issue", "title", "missing_field")
            body = data.get("body")
            if body is not None and not isinstance(body, str):
                raise invalid("body is not a string", "Issue", "body")
            labels = self._labels(data.get("labels")) if self._can_push(repo, request) else []
            number = self._add_issue(repo, self._actor(request).login, str(title), body or "",
                                     labels)
            payload = self._issue_json(repo, number)
            return Response(201, payload, {"Location": payload["url"]})

    def _get_issue(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            return self._issue_json(repo, self._issue_number(request, repo))

    def _update_issue(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            number = self._issue_number(request, repo)
            data = request.json() or {}
            actor = self._actor(request).login
            pusher = self._can_push(repo, request)
            author = (repo.pulls[number].user if number in repo.pulls
                      else repo.issues[number].user)
            if not pusher and login_key(actor) != login_key(author):
                raise github_error(403, "You must be the author or have push access to edit "
                                        "this issue")
            state = data.get("state")
            if state is not None and state not in ("open", "closed"):
                raise invalid("state must be open or closed", "Issue", "state")
            reason = data.get("state_reason")
            if reason is not None and reason not in STATE_REASONS:
                raise invalid("state_reason is not valid", "Issue", "state_reason")
            now = self.clock()
            if number in repo.pulls:
                pull = repo.pulls[number]
                if "title" in data and data["title"] is not None:
                    pull.title = str(data["title"])
                if "body" in data:
                    pull.body = str(data["body"] or "")
                if state == "closed" and pull.state == "open":
                    pull.state, pull.closed_at = "closed", now
                pull.updated_at = now
                return self._issue_json(repo, number)
            issue = repo.issues[number]
            if "title" in data and data["title"] is not None:
                issue.title = str(data["title"])
            if "body" in data:
                issue.body = str(data["body"] or "")
            if "labels" in data and pusher:
                issue.labels = self._labels(data["labels"])
            if state == "closed" and issue.state == "open":
                issue.state, issue.closed_at, issue.closed_by = "closed", now, actor
                issue.state_reason = reason or "completed"
            elif state == "open" and issue.state == "closed":
                issue.state, issue.closed_at, issue.closed_by = "open", None, None
                issue.state_reason = "reopened"
            issue.updated_at = now
            return self._issue_json(repo, number)

    def _list_comments(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            number = self._issue_number(request, repo)
            comments = [self._comment_json(repo, c)
                        for c in sorted(repo.comments.values(), key=lambda c: c.id)
                        if c.issue == number]
            return self._paginate(request, comments)

    def _create_comment(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            number = self._issue_number(request, repo)
            body = (request.json() or {}).get("body")
            if not isinstance(body, str) or not body:
                raise invalid("", "IssueComment", "body", "missing_field")
            if len(body) > 65536:
                raise invalid("Body is too long (maximum is 65536 characters)", "IssueComment",
                              "body", "custom")
            now = self.clock()
            comment = Comment(next(self._ids), number, self._actor(request).login, body, now,
                              now)
            repo.comments[comment.id] = comment
            payload = self._comment_json(repo, comment)
            return Response(201, payload, {"Location": payload["url"]})

    def _get_comment(self, request: Request) -> JSON:
        with self.lock:
            repo, comment = self._comment(request)
            return self._comment_json(repo, comment)

    def _update_comment(self, request: Request) -> JSON:
        with self.lock:
            repo, comment = self._comment(request)
            body = (request.json() or {}).get("body")
            if not isinstance(body, str) or not body:
                raise invalid("", "IssueComment", "body", "missing_field")
            comment.body, comment.updated_at = body, self.clock()
            return self._comment_json(repo, comment)

    def _add_issue(self, repo: Repo, author: str, title: str, body: str,
                   labels: list[str]) -> int:
        now = self.clock()
        issue = Issue(repo.next_number, next(self._ids), author, title, body, now, now,
                      list(labels))
        repo.issues[issue.number] = issue
        repo.next_number += 1
        return issue.number

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def open_issue(self, repo: str, author: str, title: str, body: str = "",
                   labels: tuple[str, ...] = ()) -> int:
        """An issue opened by `author`, with `labels` as an issue form sets them (whoever opens
        it). Returns its number."""
        with self.lock:
            return self._add_issue(self.repo(repo), self._existing(author).login, title, body,
                                   list(labels))

    def issue(self, repo: str, number: int) -> Issue:
        with self.lock:
            return self.repo(repo).issues[number]

    def comments(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return [c.body for c in sorted(self.repo(repo).comments.values(), key=lambda c: c.id)
                    if c.issue == number]
