"""Commit statuses and check runs, as CI reports them on a commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.emulators.github.git import Git
from accessctl.emulators.github.wire import (
    Routes,
    github_error,
    int_param,
    invalid,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Checks(Git):
    def _check_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("POST", f"{r}/statuses/{{sha}}", self._create_status),
            ("POST", f"{r}/check-runs", self._create_check_run),
            ("GET", f"{r}/check-runs/{{check_run_id}}", self._get_check_run),
            ("PATCH", f"{r}/check-runs/{{check_run_id}}", self._update_check_run),
        ]

    def _create_status(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            sha = request.params["sha"]
            if sha not in repo.commits:
                raise github_error(422, f"No commit found for SHA: {sha}")
            data = request.json() or {}
            state = data.get("state")
            if state not in ("error", "failure", "pending", "success"):
                raise invalid("", "Status", "state")
            now, status_id = stamp(self.clock()), next(self._ids)
            status = {
                "url": f"{self.api}/repos/{repo.full_name}/statuses/{sha}", "id": status_id,
                "node_id": node_id("SC", status_id), "state": state,
                "avatar_url": None, "description": data.get("description"),
                "target_url": data.get("target_url"), "context": data.get("context", "default"),
                "created_at": now, "updated_at": now,
                "creator": self._user_json(self._actor(request).login),
            }
            repo.statuses.append({**status, "sha": sha})
            return Response(201, status)

    def _create_check_run(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            data = request.json() or {}
            if not data.get("name") or data.get("head_sha") not in repo.commits:
                raise invalid("", "CheckRun", "head_sha" if data.get("name") else "name")
            run_id = next(self._ids)
            now = stamp(self.clock())
            run: dict[str, Any] = {
                "id": run_id, "node_id": node_id("CR", run_id), "head_sha": data["head_sha"],
                "name": data["name"], "external_id": data.get("external_id", ""),
                "url": f"{self.api}/repos/{repo.full_name}/check-runs/{run_id}",
                "html_url": f"{self.web}/{repo.full_name}/runs/{run_id}",
                "details_url": data.get("details_url"), "status": "queued",
                "conclusion": None, "started_at": now, "completed_at": None,
                "output": {"title": None, "summary": None, "text": None,
                           "annotations_count": 0,
                           "annotations_url": f"{self.api}/repos/{repo.full_name}/check-runs/"
                                              f"{run_id}/annotations"},
                "check_suite": {"id": run_id}, "app": None, "pull_requests": [],
            }
            self._apply_check_run(run, data)
            repo.check_runs[run_id] = run
            return Response(201, run)

    def _apply_check_run(self, run: dict[str, Any], data: Mapping[str, Any]) -> None:
        for name in ("name", "details_url", "external_id", "started_at"):
            if name in data:
                run[name] = data[name]
        if "status" in data:
            if data["status"] not in ("queued", "in_progress", "completed"):
                raise invalid("", "CheckRun", "status")
            run["status"] = data["status"]
        if "conclusion" in data:
            run["conclusion"] = data["conclusion"]
            run["status"] = "completed"
        if run["status"] == "completed":
            if run["conclusion"] is None:
                raise invalid("conclusion is required when status is completed", "CheckRun",
                              "conclusion", "missing_field")
            run["completed_at"] = data.get("completed_at") or stamp(self.clock())
        output = data.get("output")
        if isinstance(output, Mapping):
            for name in ("title", "summary", "text"):
                if name in output:
                    run["output"][name] = output[name]

    def _check_run(self, request: Request) -> dict[str, Any]:
        repo = self._repo(request)
        run: dict[str, Any] | None = repo.check_runs.get(int_param(request, "check_run_id"))
        if run is None:
            raise not_found()
        return run

    def _get_check_run(self, request: Request) -> JSON:
        with self.lock:
            return self._check_run(request)

    def _update_check_run(self, request: Request) -> JSON:
        with self.lock:
            run = self._check_run(request)
            self._apply_check_run(run, request.json() or {})
            return run
