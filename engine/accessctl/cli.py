"""The `accessctl` command line: one error boundary, subcommands loaded only when called.

Exit codes: 0 clean, 1 findings or failed changes, 2 usage or configuration error, 3 a bug.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from accessctl import __version__
from accessctl.core.environment import Environment
from accessctl.core.errors import AccessctlError

COMMANDS: dict[str, tuple[str, str]] = {
    "test": ("accessctl.commands.test", "Run the policy test cases in policies/tests/."),
    "init": ("accessctl.commands.init", "Write a new access repository, ready to commit."),
    "validate": ("accessctl.commands.validate",
                 "Check request and policy files; exit 1 on findings."),
    "demo": ("accessctl.commands.demo", "The whole lifecycle on local servers, narrated."),
    "explain": ("accessctl.commands.explain", "Why a request is or is not allowed, rule by rule."),
    "plan": ("accessctl.commands.plan", "Show desired grants and the changes that would be made."),
    "apply": ("accessctl.commands.apply", "Grant approved requests (dry-run unless --confirm)."),
    "report": ("accessctl.commands.report", "Export every request's state for auditors."),
    "request": ("accessctl.commands.request", "Ask for access: write the file, open the PR."),
    "revoke": ("accessctl.commands.revoke", "Revoke expired grants (dry-run unless --confirm)."),
    "reconcile": ("accessctl.commands.reconcile",
                  "Report drift; remove unbacked members of exclusive entitlements."),
    "status": ("accessctl.commands.status", "Active, pending and soon-expiring access."),
    "schemas": ("accessctl.commands.schemas",
                "Export the JSON Schemas for editors, or check them."),
    "completion": ("accessctl.commands.completion",
                   "Print the shell completion script for bash, zsh or fish."),
    "codeowners": ("accessctl.commands.codeowners",
                   "Generate .github/CODEOWNERS from the policies, or check it."),
    "workflows": ("accessctl.commands.workflows",
                  "Generate the CI workflows from policies/providers.yaml, or check them."),
    "lock": ("accessctl.commands.lock",
             "Write the engine's lock (every package with its hashes), or check it."),
}


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that subcommand runs, to keep --help fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        import importlib

        module = importlib.import_module(COMMANDS[name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accessctl")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Just-in-time access as GitOps: request by pull request, approve by review, expire on time."""
    if ctx.obj is None:
        ctx.obj = Environment()


def run(args: list[str], env: Environment | None = None) -> int:
    """Run the CLI in-process and return its exit code (the one error boundary)."""
    environment = env or Environment()
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        result = cli.main(args=args, prog_name="accessctl", obj=environment,
                          standalone_mode=False)
    except AccessctlError as error:
        message = str(error)
        if message:
            environment.stderr.write(f"accessctl: {message}\n")
        return error.exit_code
    except click.exceptions.Abort:
        environment.stderr.write("accessctl: aborted\n")
        return 2
    except click.ClickException as error:
        environment.stderr.write(f"accessctl: {error.format_message()}\n")
        return 2
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except KeyboardInterrupt:
        environment.stderr.write("accessctl: interrupted\n")
        return 130
    except Exception as error:
        if os.environ.get("ACCESSCTL_DEBUG"):
            raise
        environment.stderr.write(
            f"accessctl: internal error: {type(error).__name__}: {error}\n"
            "This is a bug. Run again with ACCESSCTL_DEBUG=1 for a traceback and report it.\n"
        )
        return 3
    return result if isinstance(result, int) else 0


def main(argv: Any = None) -> None:
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
