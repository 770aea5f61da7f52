from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.github import GitHubEmulator

from tests.e2e.github_world import World
from tests.servers import moto_server


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitHubEmulator() as github:
        yield World.build(github, aws_endpoint, tmp_path)
