"""GCP IAM conditional bindings on the GCP emulator, reached over HTTP through the API client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from accessctl.core.model import ProviderInstance, Target, isoformat, principal_key
from accessctl.emulators.gcp import GcpEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import gcp

_ids = itertools.count()
ROLE = "roles/viewer"


class GcpIamBackend:
    platform = "gcp"
    supports_faults = True

    def __init__(self, emulator: GcpEmulator) -> None:
        self.emulator = emulator
        self.instance = ProviderInstance("gcp-test", "gcp", {"endpoint": emulator.base_url + "/"})

    def provider(self) -> gcp.GcpProvider:
        return gcp.create(self.instance, {})

    def new_target(self) -> Target:
        resource = self.emulator.add_project(f"conformance-{next(_ids)}")
        return Target.build("gcp-test", "gcp", "iam_binding", {"resource": resource, "role": ROLE})

    def missing_target(self) -> Target:
        return Target.build("gcp-test", "gcp", "iam_binding",
                            {"resource": "projects/no-such-project", "role": ROLE})

    def new_principal(self) -> str:
        return self.emulator.add_user(f"Person-{next(_ids)}@example.com")

    def missing_principal(self) -> str:
        return "nobody-here@example.com"

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        # An engine-style conditional binding (as an earlier run would have left), so that
        # observe counts it; unmanaged bindings have their own tests in tests/emulators.
        expires = isoformat(datetime.now(UTC) + timedelta(hours=1))
        self.emulator.add_binding(
            target.param("resource"), target.param("role"), f"user:{principal.lower()}",
            {"title": f"{gcp.TITLE_PREFIX} conformance for {principal}",
             "expression": f'request.time < timestamp("{expires}")'},
        )

    def members_out_of_band(self, target: Target) -> set[str]:
        policy = self.emulator.policy(target.param("resource"))
        return {
            principal_key(member.removeprefix("user:"))
            for binding in policy.get("bindings", [])
            if binding["role"] == target.param("role")
            for member in binding["members"]
        }

    def page_size(self) -> int:
        return 5  # an IAM policy comes whole, in one answer: any count works

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=1))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        member = f"user:{principal.lower()}"
        for binding in self.emulator.policy(target.param("resource")).get("bindings", []):
            if binding["role"] == target.param("role") and member in binding["members"]:
                return gcp.condition_expiry(binding)
        return None


@contextmanager
def backend() -> Iterator[GcpIamBackend]:
    emulator = GcpEmulator()
    emulator.start()
    try:
        yield GcpIamBackend(emulator)
    finally:
        emulator.stop()
