"""`accessctl completion bash|zsh|fish`: the shell script that completes accessctl's commands,
options and choices (click's shell completion, which asks accessctl itself at each <Tab>)."""

from __future__ import annotations

import click

from accessctl.commands.common import environment

PROGRAM = "accessctl"
COMPLETE_VAR = "_ACCESSCTL_COMPLETE"
"""The variable click's completion protocol reads: `_<PROG>_COMPLETE=<shell>_complete`."""

INSTALL = {
    "bash": 'eval "$(accessctl completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(accessctl completion zsh)"    # in ~/.zshrc, after compinit',
    "fish": "accessctl completion fish > ~/.config/fish/completions/accessctl.fish",
}


@click.command("completion")
@click.argument("shell", type=click.Choice(sorted(INSTALL)))
@click.pass_context
def command(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(accessctl completion bash)"   (in ~/.bashrc)
    zsh:   eval "$(accessctl completion zsh)"    (in ~/.zshrc, after compinit)
    fish:  accessctl completion fish > ~/.config/fish/completions/accessctl.fish
    """
    from click.shell_completion import get_completion_class

    from accessctl.cli import cli

    env = environment(ctx)
    completion = get_completion_class(shell)
    assert completion is not None  # every choice above is one click ships
    env.stdout.write(completion(cli, {}, PROGRAM, COMPLETE_VAR).source())
