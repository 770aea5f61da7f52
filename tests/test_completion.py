"""`accessctl completion bash|zsh|fish`: click's shell completion, exercised in a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import invoke

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script(shell: str) -> None:
    result = invoke("completion", shell)
    assert result.code == 0, result.err
    assert "_ACCESSCTL_COMPLETE" in result.out
    assert f"{shell}_complete" in result.out


def test_an_unknown_shell_is_a_usage_error() -> None:
    result = invoke("completion", "tcsh")
    assert result.code == 2
    assert "'tcsh' is not one of 'bash', 'fish', 'zsh'" in result.err


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_options(tmp_path: Path) -> None:
    # `accessctl` on PATH is this checkout's engine, as an installed entry point would be.
    wrapper = tmp_path / "accessctl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m accessctl "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": f"{ROOT / 'engine'}:{ROOT}"}

    def complete(*words: str) -> list[str]:
        script = ('eval "$(accessctl completion bash)"\n'
                  f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
                  "_accessctl_completion accessctl\n"
                  'printf "%s\\n" "${COMPREPLY[@]}"\n')
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                              timeout=60, check=True)
        return done.stdout.split()

    assert complete("accessctl", "wor") == ["workflows"]
    assert "completion" in complete("accessctl", "co")
    assert complete("accessctl", "workflows", "--vcs", "gi") == ["github", "gitlab"]
