"""Entra ID direct group membership on the Graph emulator, reached through msgraph-sdk over HTTP.

`entra_pim.py` (PIM for Groups) and `entra_role.py` (directory roles) run the same suite on
assignment schedules with native expiry, through the shared backend defined here.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.emulators.graph import GraphEmulator, Schedule, iso
from accessctl.emulators.http import Faults
from accessctl.providers import entra

_ids = itertools.count()
TOKEN = "conformance-token"
PAGE = 10  # small pages, so the paging test really crosses page boundaries


class EntraBackend:
    platform = "entra"
    supports_faults = True

    def __init__(self, emulator: GraphEmulator, kind: str) -> None:
        self.emulator = emulator
        self.kind = kind
        self.instance = ProviderInstance("entra-test", "entra", {
            "graph_url": f"{emulator.base_url}/v1.0",
            "auth": "static_token",
            "static_token_env": "ENTRA_TEST_TOKEN",
            "page_size": PAGE,
        })
        self.made: list[entra.EntraProvider] = []

    def provider(self) -> entra.EntraProvider:
        made = entra.create(self.instance, {"ENTRA_TEST_TOKEN": TOKEN})
        self.made.append(made)
        return made

    def close(self) -> None:
        for made in self.made:
            made.close()

    def _target(self, object_id: str) -> Target:
        params = {"role": object_id, "scope": "/"} if self.kind == "directory_role" else \
            {"group": object_id}
        if self.kind == "pim_group":
            params["access"] = "member"
        return Target.build("entra-test", "entra", self.kind, params)

    def new_target(self) -> Target:
        if self.kind == "directory_role":
            return self._target(self.emulator.add_role(f"Role {next(_ids)}"))
        return self._target(self.emulator.add_group(f"jit-{next(_ids)}"))

    def _held(self, target: Target, **match: str) -> list[Schedule]:
        if self.kind == "directory_role":
            return self.emulator.active_schedules("role", resource=target.param("role"), **match)
        return self.emulator.active_schedules("group", resource=target.param("group"),
                                              access="member", **match)

    def missing_target(self) -> Target:
        return self._target(str(uuid.uuid4()))

    def new_principal(self) -> str:
        n = next(_ids)
        # Mixed case: Graph matches UPNs case-insensitively, and so must the engine.
        user_id = self.emulator.add_user(f"User.{n}@Corp.Example", mail=f"u{n}@corp.example")
        return self._upn(user_id)

    def _upn(self, user_id: str) -> str:
        return self.emulator.users[user_id].user_principal_name

    def missing_principal(self) -> str:
        return "nobody-here@corp.example"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed.{next(_ids)}@Corp.Example"
        self.emulator.rename_user(principal, new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        user = self.emulator.find_user(principal)
        assert user is not None
        end = datetime.now(UTC) + timedelta(hours=1)
        if self.kind == "pim_group":
            self.emulator.add_group_assignment(target.param("group"), user.id, "member", end)
        elif self.kind == "directory_role":
            self.emulator.add_role_assignment(target.param("role"), user.id, "/", end)
        else:
            self.emulator.add_member(target.param("group"), user.id)

    def members_out_of_band(self, target: Target) -> set[str]:
        if self.kind == "group":
            ids = list(self.emulator.groups[target.param("group")].members)
        else:
            ids = [s.principal_id for s in self._held(target)]
        return {principal_key(self._upn(i)) for i in ids}

    def page_size(self) -> int:
        return PAGE

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=1))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        if self.kind == "group":
            return None  # direct membership has no expiry in Entra
        user = self.emulator.find_user(principal)
        assert user is not None
        held = self._held(target, principal_id=user.id)
        if not held or held[0].end is None:
            return None
        return iso(held[0].end)


@contextmanager
def running(kind: str) -> Iterator[EntraBackend]:
    emulator = GraphEmulator(token=TOKEN, page_size=PAGE)
    emulator.start()
    made = EntraBackend(emulator, kind)
    try:
        yield made
    finally:
        made.close()
        emulator.stop()


@contextmanager
def backend() -> Iterator[EntraBackend]:
    with running("group") as made:
        yield made
