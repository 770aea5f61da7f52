"""Where each kind of file lives in an access repository."""

from __future__ import annotations

REQUESTS_DIR = "access-requests"
ENTITLEMENTS_DIR = "policies/entitlements"
SCHEDULES_DIR = "policies/schedules"
IDENTITIES_FILE = "policies/identities.yaml"
PROVIDERS_FILE = "policies/providers.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
