"""Merge request notes and discussion threads: who may edit a note, and resolving a thread."""

from __future__ import annotations

import hashlib

from accessctl.emulators.gitlab.merge_requests import MergeRequests
from accessctl.emulators.gitlab.server import Routes
from accessctl.emulators.gitlab.state import MergeRequest, Note, User
from accessctl.emulators.gitlab.wire import bad_request, form, int_param, not_found, stamp
from accessctl.emulators.http import JSON, HttpError, Request, Response


class Notes(MergeRequests):
    def _note_routes(self) -> Routes:
        mr = "/projects/{id}/merge_requests/{iid}"
        return [
            ("GET", mr + "/notes", self._list_notes),
            ("POST", mr + "/notes", self._create_note),
            ("GET", mr + "/notes/{note_id}", self._get_note),
            ("PUT", mr + "/notes/{note_id}", self._update_note),
            ("GET", mr + "/discussions", self._list_discussions),
            ("POST", mr + "/discussions", self._create_discussion),
            ("GET", mr + "/discussions/{discussion_id}", self._get_discussion),
            ("PUT", mr + "/discussions/{discussion_id}", self._resolve_discussion),
        ]

    def _note_json(self, mr: MergeRequest, note: Note) -> JSON:
        body: JSON = {
            "id": note.id,
            "type": "DiscussionNote" if note.resolvable else None,
            "body": note.body,
            "attachment": None,
            "author": self._user_basic(note.author_id),
            "created_at": stamp(note.created_at),
            "updated_at": stamp(note.updated_at),
            "system": note.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project_id,
            "noteable_iid": mr.iid,
            "resolvable": note.resolvable,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
        }
        if note.resolvable:
            body["resolved"] = note.resolved_by is not None
            body["resolved_by"] = (self._user_basic(note.resolved_by)
                                   if note.resolved_by is not None else None)
        return body

    def _note(self, request: Request) -> tuple[MergeRequest, Note]:
        _, mr = self._find_mr(request)
        note_id = int_param(request, "note_id")
        for note in mr.notes:
            if note.id == note_id:
                return mr, note
        raise not_found("Note")

    # -- handlers ----------------------------------------------------------------------------------
    def _list_notes(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        order = request.arg("sort", "desc") == "desc"
        notes = sorted(mr.notes, key=lambda n: (n.created_at, n.id), reverse=order)
        return self._paginate(request, [self._note_json(mr, n) for n in notes])

    def _create_note(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        body = form(request).get("body")
        if not body:
            raise bad_request("body is missing")
        now = self.clock()
        note = Note(next(self._ids), str(body), actor.id, now, now)
        mr.notes.append(note)
        return Response(201, self._note_json(mr, note))

    def _get_note(self, request: Request, actor: User) -> JSON:
        mr, note = self._note(request)
        return self._note_json(mr, note)

    def _update_note(self, request: Request, actor: User) -> JSON:
        project, _ = self._find_mr(request)
        mr, note = self._note(request)
        # GitLab lets the author edit a comment, and anyone with at least the Maintainer role
        # edit someone else's; the note does not say who edited it.
        if note.author_id != actor.id and self._role_on(project, actor) < 40:
            raise HttpError(403, {"message": "403 Forbidden"})
        body = form(request).get("body")
        if not body:
            raise bad_request("body is missing")
        note.body, note.updated_at = str(body), self.clock()
        return self._note_json(mr, note)

    def _discussions_json(self, mr: MergeRequest) -> list[JSON]:
        threads: dict[str, list[Note]] = {}
        for note in sorted(mr.notes, key=lambda n: (n.created_at, n.id)):
            threads.setdefault(note.discussion_id or f"note-{note.id}", []).append(note)
        return [{"id": key, "individual_note": not notes[0].resolvable,
                 "notes": [self._note_json(mr, n) for n in notes]}
                for key, notes in threads.items()]

    def _list_discussions(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        return self._paginate(request, self._discussions_json(mr))

    def _get_discussion(self, request: Request, actor: User) -> JSON:
        _, mr = self._find_mr(request)
        key = request.params["discussion_id"]
        for thread in self._discussions_json(mr):
            if thread["id"] == key:
                return thread
        raise not_found("Discussion")

    def _create_discussion(self, request: Request, actor: User) -> Response:
        """A new thread on the merge request: its first note can be resolved."""
        _, mr = self._find_mr(request)
        body = form(request).get("body")
        if not body:
            raise bad_request("body is missing")
        now = self.clock()
        note_id = next(self._ids)
        key = hashlib.sha1(f"discussion:{mr.id}:{note_id}".encode()).hexdigest()
        mr.notes.append(Note(note_id, str(body), actor.id, now, now, discussion_id=key,
                             resolvable=True))
        thread = next(d for d in self._discussions_json(mr) if d["id"] == key)
        return Response(201, thread)

    def _resolve_discussion(self, request: Request, actor: User) -> JSON:
        """Resolve or unresolve a thread (Developer and up, or the merge request's author).
        Resolving updates the thread's notes, so their `updated_at` moves."""
        project, mr = self._find_mr(request)
        key = request.params["discussion_id"]
        notes = [n for n in mr.notes if n.discussion_id == key and n.resolvable]
        if not notes:
            raise not_found("Discussion")
        if actor.id != mr.author_id and self._role_on(project, actor) < 30:
            raise HttpError(403, {"message": "403 Forbidden"})
        raw = form(request).get("resolved")
        if raw is None or str(raw).casefold() not in ("true", "false", "1", "0"):
            raise bad_request("resolved is missing")
        resolved = str(raw).casefold() in ("true", "1")
        now = self.clock()
        for note in notes:
            note.resolved_by = actor.id if resolved else None
            note.resolved_at = now if resolved else None
            note.updated_at = now
        return next(d for d in self._discussions_json(mr) if d["id"] == key)
