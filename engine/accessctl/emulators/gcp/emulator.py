"""`GcpEmulator`: IAM and Cloud Identity combined, and the routes it serves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from accessctl.emulators.gcp.iam import Iam
from accessctl.emulators.gcp.identity import Identity


class GcpEmulator(Iam, Identity):
    """Resource Manager v3 IAM policies and Cloud Identity v1 memberships; see the package
    docstring for what it models."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        for method, template, handler in self._iam_routes() + self._identity_routes():
            self.route(method, template, handler)
