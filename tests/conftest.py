from __future__ import annotations

import os

# Test servers (moto, emulators) accept any credentials; real ones never come from the repo.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)

# Strict contract mode: every emulator's requests and answers are checked against the vendor's
# contract, and a violation fails the test that caused it (tests/contracts/plugin.py).
pytest_plugins = ["tests.contracts.plugin"]
