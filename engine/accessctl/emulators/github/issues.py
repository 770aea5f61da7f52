"""Issues and their comments. The only issues so far are pull requests seen as issues (GitHub
numbers both alike); new issue routes go into `_issue_routes` here."""

from __future__ import annotations

from accessctl.emulators.github.pulls import Pulls
from accessctl.emulators.github.state import Comment, Repo
from accessctl.emulators.github.wire import Routes, int_param, invalid, node_id, not_found, stamp
from accessctl.emulators.http import JSON, Request, Response


class Issues(Pulls):
    def _issue_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", f"{r}/issues/{{issue_number}}", self._get_issue),
            ("GET", f"{r}/issues/{{issue_number}}/comments", self._list_comments),
            ("POST", f"{r}/issues/{{issue_number}}/comments", self._create_comment),
            ("GET", f"{r}/issues/comments/{{comment_id}}", self._get_comment),
            ("PATCH", f"{r}/issues/comments/{{comment_id}}", self._update_comment),
        ]

    # -- JSON shapes and look-ups -----------------------------------------------------------------
    def _comment_json(self, repo: Repo, comment: Comment) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}"
        return {
            "id": comment.id, "node_id": node_id("IC", comment.id), "url": url,
            "html_url": f"{self.web}/{repo.full_name}/pull/{comment.issue}"
                        f"#issuecomment-{comment.id}",
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{comment.issue}",
            "body": comment.body, "user": self._user_json(comment.user),
            "created_at": stamp(comment.created_at), "updated_at": stamp(comment.updated_at),
            "author_association": self._association(repo, comment.user),
        }

    def _issue_number(self, request: Request, repo: Repo) -> int:
        number = int_param(request, "issue_number")
        if number not in repo.pulls:
            raise not_found()
        return number

    def _comment(self, request: Request) -> tuple[Repo, Comment]:
        repo = self._repo(request)
        comment = repo.comments.get(int_param(request, "comment_id"))
        if comment is None:
            raise not_found()
        return repo, comment

    # -- handlers ----------------------------------------------------------------------------------
    def _get_issue(self, request: Request) -> JSON:
        """A pull request seen as an issue (the only issues this emulator has)."""
        with self.lock:
            repo = self._repo(request)
            pull = repo.pulls[self._issue_number(request, repo)]
            url = f"{self.api}/repos/{repo.full_name}/issues/{pull.number}"
            html = f"{self.web}/{repo.full_name}/pull/{pull.number}"
            return {
                "id": pull.id, "node_id": node_id("I", pull.id), "url": url,
                "repository_url": f"{self.api}/repos/{repo.full_name}",
                "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
                "events_url": f"{url}/events", "html_url": html, "number": pull.number,
                "state": pull.state, "state_reason": None, "title": pull.title,
                "body": pull.body or None, "user": self._user_json(pull.user), "labels": [],
                "assignee": None, "assignees": [], "milestone": None, "locked": False,
                "active_lock_reason": None,
                "comments": sum(1 for c in repo.comments.values() if c.issue == pull.number),
                "created_at": stamp(pull.created_at), "updated_at": stamp(pull.updated_at),
                "closed_at": stamp(pull.closed_at) if pull.closed_at else None,
                "author_association": self._association(repo, pull.user),
                "pull_request": {
                    "url": f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}",
                    "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                    "merged_at": stamp(pull.merged_at) if pull.merged_at else None,
                },
            }

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

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def comments(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return [c.body for c in sorted(self.repo(repo).comments.values(), key=lambda c: c.id)
                    if c.issue == number]
