"""`accessctl --help` must not import any cloud SDK: they load only for platforms in use."""

from __future__ import annotations

import subprocess
import sys

SDK_MODULES = ("boto3", "botocore", "github", "gitlab", "okta", "msgraph", "azure",
               "googleapiclient", "google.auth", "ldap3", "jsonschema", "yaml", "rich")


def imported_by(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                          capture_output=True, text=True, timeout=60, check=True)
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_importing_the_cli_loads_no_sdk() -> None:
    names = imported_by("import accessctl.cli")
    leaked = {n for n in names if n.split(".")[0] in {m.split(".")[0] for m in SDK_MODULES}
              and any(n == m or n.startswith(m + ".") for m in SDK_MODULES)}
    assert "accessctl.cli" in names
    assert leaked == set()


def test_help_lists_every_command_without_loading_them() -> None:
    code = ("import sys; from accessctl.cli import run; rc = run(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('accessctl.commands')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert "validate" in done.stdout and "revoke" in done.stdout
    assert done.stdout.strip().endswith("[]")
