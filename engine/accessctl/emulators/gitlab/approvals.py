"""Merge request approvals: the project's approval settings, approving, approval rules (code
owners from CODEOWNERS and rules set on the merge request), and what GitLab Free lacks of them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from accessctl.emulators.gitlab.merge_requests import MergeRequests
from accessctl.emulators.gitlab.server import Routes
from accessctl.emulators.gitlab.state import (
    APPROVAL_SETTINGS,
    Approval,
    MergeRequest,
    Project,
    Rule,
    User,
)
from accessctl.emulators.gitlab.wire import CODEOWNERS_PATHS, bad_request, form, stamp
from accessctl.emulators.http import JSON, HttpError, Request, Response


class Approvals(MergeRequests):
    def _approval_routes(self) -> Routes:
        mr = "/projects/{id}/merge_requests/{iid}"
        return [
            ("GET", "/projects/{id}/approvals", self._project_approvals),
            ("POST", "/projects/{id}/approvals", self._change_project_approvals),
            ("GET", mr + "/approvals", self._mr_approvals),
            ("POST", mr + "/approve", self._mr_approve),
            ("GET", mr + "/approval_state", self._mr_approval_state),
            ("GET", mr + "/approval_rules", self._mr_approval_rules),
        ]

    # -- the project's approval settings ----------------------------------------------------------
    def _approval_settings_json(self, project: Project) -> JSON:
        body: dict[str, Any] = {"approvers": [], "approver_groups": []}
        body.update({name: getattr(project, name) for name in APPROVAL_SETTINGS})
        body["require_reauthentication_to_approve"] = project.require_password_to_approve
        return body

    def _premium(self) -> None:
        """Premium endpoints do not exist on Free: GitLab answers as for any unknown route."""
        if self.tier == "free":
            raise HttpError(404, {"error": "404 Not Found"})

    def _project_approvals(self, request: Request, actor: User) -> JSON:
        self._premium()
        return self._approval_settings_json(self._find_project(request.params["id"]))

    def _change_project_approvals(self, request: Request, actor: User) -> Response:
        self._premium()
        project = self._find_project(request.params["id"])
        held = self._effective(*self._source("projects", str(project.id))).get(actor.id)
        if not actor.is_admin and (held is None or held.access_level < 40):
            raise HttpError(403, {"message": "403 Forbidden"})  # Maintainers change settings
        data = form(request)
        changes: dict[str, Any] = {}
        for name, kind in APPROVAL_SETTINGS.items():
            if name not in data:
                continue
            raw = data[name]
            if kind is bool:
                text = str(raw).casefold()
                if text not in ("true", "false", "1", "0"):
                    raise bad_request(f"{name} is invalid")
                changes[name] = text in ("true", "1")
            else:
                try:
                    changes[name] = int(raw)
                except (TypeError, ValueError):
                    raise bad_request(f"{name} is invalid") from None
        self._apply_approval_settings(project, changes)
        return Response(201, self._approval_settings_json(project))

    def _apply_approval_settings(self, project: Project, changes: Mapping[str, Any]) -> None:
        unknown = sorted(set(changes) - set(APPROVAL_SETTINGS))
        if unknown:
            raise ValueError(f"unknown approval settings: {', '.join(unknown)}")
        merged = {name: getattr(project, name) for name in APPROVAL_SETTINGS} | dict(changes)
        # GitLab: selective code-owner removals can be on only while the full reset is off.
        if merged["selective_code_owner_removals"] and merged["reset_approvals_on_push"]:
            raise HttpError(400, {"message": {"selective_code_owner_removals": [
                "can only be enabled when reset_approvals_on_push is disabled"]}})
        for name, value in changes.items():
            setattr(project, name, value)

    # -- approvals and rules -----------------------------------------------------------------------
    def _rules(self, project: Project, mr: MergeRequest) -> list[Rule]:
        return self._code_owner_rules(project, mr) + list(mr.rules)

    def _rule_json(self, mr: MergeRequest, rule: Rule, with_state: bool) -> JSON:
        eligible = [self._user_basic(uid) for uid in rule.user_ids]
        body: dict[str, Any] = {
            "id": rule.id,
            "name": rule.name,
            "rule_type": rule.rule_type,
            "eligible_approvers": eligible,
            "approvals_required": rule.approvals_required,
            "users": eligible,
            "groups": [],
            "contains_hidden_groups": False,
            "section": rule.section,
            "source_rule": None,
            "overridden": False,
            "report_type": None,
        }
        if with_state:
            approved_by = [self._user_basic(a.user_id) for a in mr.approvals
                           if a.user_id in rule.user_ids or rule.rule_type == "any_approver"]
            body["approved_by"] = approved_by
            body["approved"] = len(approved_by) >= rule.approvals_required
            body["code_owner"] = rule.rule_type == "code_owner"
        return body

    def _code_owner_rules(self, project: Project, mr: MergeRequest) -> list[Rule]:
        """GitLab derives code-owner rules from CODEOWNERS on the target branch for each changed
        file (the last matching pattern wins); one rule per matched pattern."""
        target = project.branches.get(mr.target_branch, mr.base_sha)
        files = project.commits[target].files
        text = next((files[p] for p in CODEOWNERS_PATHS if p in files), None)
        if text is None:
            return []
        entries = _parse_codeowners(text.decode("utf-8", "replace"))
        rules: dict[str, Rule] = {}
        for change in self._changes(project, mr.base_sha, mr.sha):
            matched = [e for e in entries if _codeowners_match(e[0], change["new_path"])]
            if not matched:
                continue
            pattern, owners = matched[-1]
            if pattern in rules:
                continue
            user_ids = []
            for owner in owners:
                user_ids.extend(self._owner_ids(owner))
            digest = int(hashlib.sha1(f"{mr.id}:{pattern}".encode()).hexdigest()[:6], 16)
            rules[pattern] = Rule(digest, pattern, "code_owner", sorted(set(user_ids)),
                                  1 if project.code_owner_approval_required else 0, "codeowners")
        return list(rules.values())

    def _owner_ids(self, owner: str) -> list[int]:
        name = owner.lstrip("@")
        for user in self.users.values():
            if user.username.casefold() == name.casefold():
                return [user.id]
        for group in self.groups.values():
            if group.full_path.casefold() == name.casefold():
                return list(group.members)
        return []

    def _mr_approvals(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        if self.tier == "free":
            # FOSS's API::Entities::MergeRequestApprovals: these four, nothing else.
            return {
                "user_has_approved": any(a.user_id == actor.id for a in mr.approvals),
                "user_can_approve": self._may_approve(project, mr, actor)
                and all(a.user_id != actor.id for a in mr.approvals),
                "approved": bool(mr.approvals),
                "approved_by": [self._approved_by_json(a) for a in mr.approvals],
            }
        rules = [self._rule_json(mr, r, True) for r in self._rules(project, mr)]
        required = sum(r["approvals_required"] for r in rules)
        left = sum(max(0, r["approvals_required"] - len(r["approved_by"])) for r in rules)
        return {
            **self._mr_head(mr),
            "merge_status": "can_be_merged",
            "approved": left == 0,
            "approvals_required": required,
            "approvals_left": left,
            "require_password_to_approve": project.require_password_to_approve,
            "approved_by": [self._approved_by_json(a) for a in mr.approvals],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": any(a.user_id == actor.id for a in mr.approvals),
            "user_can_approve": self._may_approve(project, mr, actor),
            "approval_rules_left": [{"id": r["id"], "name": r["name"],
                                     "rule_type": r["rule_type"]}
                                    for r in rules if not r["approved"]],
            "has_approval_rules": bool(rules),
            "merge_request_approvers_available": True,
            "multiple_approval_rules_available": True,
            "invalid_approvers_rules": [],
        }

    def _approved_by_json(self, approval: Approval) -> JSON:
        entry: JSON = {"user": self._user_basic(approval.user_id)}
        if self.approval_times:
            entry["approved_at"] = stamp(approval.at)
        return entry

    def _mr_approve(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        data = form(request)
        if data.get("sha") and data["sha"] != mr.sha:
            raise HttpError(409, {"message": "SHA does not match HEAD of source branch: "
                                             f"{mr.sha}"})
        if any(a.user_id == actor.id for a in mr.approvals) \
                or not self._may_approve(project, mr, actor):
            raise HttpError(401, {"message": "401 Unauthorized"})
        mr.approvals.append(Approval(actor.id, mr.sha, self.clock()))
        return self._mr_approvals(request, actor)

    def _may_approve(self, project: Project, mr: MergeRequest, actor: User) -> bool:
        """The project's "prevent approval by author" and "by users who add commits" settings
        (Premium: on Free nothing prevents either)."""
        if self.tier == "free":
            return True
        if actor.id == mr.author_id and not project.merge_requests_author_approval:
            return False
        committers = {project.commits[sha].author for sha in self._mr_commits_of(project, mr)}
        return not (project.merge_requests_disable_committers_approval
                    and actor.id in committers)

    def _mr_approval_state(self, request: Request, actor: User) -> JSON:
        self._premium()
        project, mr = self._find_mr(request)
        return {
            "approval_rules_overwritten": bool(mr.rules),
            "rules": [self._rule_json(mr, r, True) for r in self._rules(project, mr)],
        }

    def _mr_approval_rules(self, request: Request, actor: User) -> Response:
        self._premium()
        project, mr = self._find_mr(request)
        return self._paginate(request, [self._rule_json(mr, r, False)
                                        for r in self._rules(project, mr)])

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def set_approval_settings(self, project: str | int, **settings: bool | int) -> None:
        """Change the project's approval settings (the names of `GET /projects/:id/approvals`),
        e.g. `reset_approvals_on_push=False`."""
        with self.lock:
            self._apply_approval_settings(self._find_project(str(project)), settings)

    def approve(self, project: str | int, iid: int, username: str) -> None:
        """Record an approval by `username` on the merge request's current head."""
        with self.lock:
            mr = self._mr(project, iid)
            user = self._find_user(username)
            if all(a.user_id != user.id for a in mr.approvals):
                mr.approvals.append(Approval(user.id, mr.sha, self.clock()))

    def unapprove(self, project: str | int, iid: int, username: str) -> None:
        with self.lock:
            mr = self._mr(project, iid)
            user = self._find_user(username)
            mr.approvals = [a for a in mr.approvals if a.user_id != user.id]

    def add_approval_rule(self, project: str | int, iid: int, name: str, usernames: Iterable[str],
                          approvals_required: int = 1, rule_type: str = "regular") -> int:
        with self.lock:
            mr = self._mr(project, iid)
            rule = Rule(next(self._ids), name, rule_type,
                        [self._find_user(u).id for u in usernames], approvals_required)
            mr.rules.append(rule)
            return rule.id

# -- CODEOWNERS as GitLab reads it -----------------------------------------------------------------
def _parse_codeowners(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"^\^?\[.*\]", line):
            continue
        parts = line.split()
        entries.append((parts[0], [p for p in parts[1:] if p.startswith("@")]))
    return entries


def _codeowners_match(pattern: str, path: str) -> bool:
    """gitignore-like matching as GitLab applies it to CODEOWNERS: a leading `/` anchors at the
    root, a trailing `/` means everything below, `*` stays within a segment, `**` crosses them."""
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    regex = regex.replace(r"\?", "[^/]")
    prefix = "" if anchored else "(?:.*/)?"
    return re.fullmatch(prefix + regex, path) is not None
