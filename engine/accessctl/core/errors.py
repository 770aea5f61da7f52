"""Errors the CLI boundary turns into one clear line and an exit code."""

from __future__ import annotations


class AccessctlError(Exception):
    """An expected failure: shown as one line, no traceback."""

    exit_code = 2


class ConfigError(AccessctlError):
    """The repository or the command line is not usable as given (exit 2)."""


class FindingsError(AccessctlError):
    """The run found problems it has already reported (exit 1)."""

    exit_code = 1
