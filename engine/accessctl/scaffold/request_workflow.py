"""The request workflow (.github/workflows/request-from-issue.yml): an access request issue
becomes its pull request, and the issue is told and closed when that pull request is merged or
closed. Pure: text in, text out.

Which token opens the pull request matters: GitHub starts no workflow for a pull request opened
with the workflow's own `GITHUB_TOKEN`, so validate would never run on it and it could not be
judged. The job mints a GitHub App installation token instead (`actions/create-github-app-token`,
the App's key in the `access-requests` environment, which only the default branch may use), with
only Contents, Pull requests and Issues, on this repository only. The App's bot is the pull
request's author; identities.yaml `request_bots` must name it (approval/on_behalf.py). Issue
text never reaches a shell: the job passes the issue's number only, and the engine reads the
issue through the API.
"""

from __future__ import annotations

from accessctl.read import issue_form
from accessctl.scaffold.credentials import APP_TOKEN_ACTION, APP_TOKEN_STEP
from accessctl.scaffold.github_workflows import CHECKOUT, GENERATED, _action_step, _install_step
from accessctl.scaffold.install import Install

PATH = ".github/workflows/request-from-issue.yml"
ENVIRONMENT = "access-requests"
CLIENT_ID = "ACCESSCTL_REQUESTS_APP_CLIENT_ID"
PRIVATE_KEY = "ACCESSCTL_REQUESTS_APP_PRIVATE_KEY"


def render(install: Install) -> str:
    label = issue_form.LABEL
    return GENERATED + f"""#
# Asking for access without git (docs/requesting.md). An issue opened from the access request
# form (.github/ISSUE_TEMPLATE/access-request.yml, label {label}) becomes the pull request
# that adds the request file, for the issue's author; its link is commented on the issue. A
# problem (an author not in policies/identities.yaml, an unknown entitlement, a duration over
# the maximum) is commented instead, and editing the issue tries again. Once the pull request
# is open, it is the request: editing the issue changes nothing. When the pull request is
# merged or closed, the issue is told and closed.
#
# The pull request is opened with a GitHub App's token, not the workflow's GITHUB_TOKEN: GitHub
# starts no workflow for a pull request GITHUB_TOKEN opens, so validate would never run on it.
# The App needs Contents, Pull requests and Issues (write) on this repository only; its key is a
# secret of the {ENVIRONMENT} environment, which must allow the default branch only, and its
# bot login (<app-slug>[bot]) goes under request_bots in policies/identities.yaml.
name: request from issue

on:
  issues:
    types: [opened, edited]
  pull_request:
    types: [closed]
    branches: [main]

# Nothing by default; each job asks for what it needs.
permissions: {{}}

# One run at a time per issue (an edit right after opening waits, and then finds the pull
# request the first run opened).
concurrency:
  group: request-from-issue-${{{{ github.event.issue.number || github.event.pull_request.number }}}}
  cancel-in-progress: false

jobs:
  open-pull-request:
    name: open the pull request
    if: github.event_name == 'issues' && contains(github.event.issue.labels.*.name, '{label}')
    runs-on: ubuntu-24.04
    timeout-minutes: 10
    environment: {ENVIRONMENT}
    permissions:
      contents: read  # the policies the request is checked against; the App's token writes
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false
""" + _install_step(install, ["github"]) + f"""
      # A GitHub App installation token lives one hour, so none is stored: the job mints its
      # own, for this repository only, with only what opening the pull request needs; the
      # action revokes it when the job ends.
      - name: GitHub App token (minted for this job)
        id: {APP_TOKEN_STEP}
        uses: {APP_TOKEN_ACTION}
        with:
          client-id: ${{{{ vars.{CLIENT_ID} }}}}
          private-key: ${{{{ secrets.{PRIVATE_KEY} }}}}
          owner: ${{{{ github.repository_owner }}}}
          repositories: ${{{{ github.event.repository.name }}}}
          permission-contents: write
          permission-pull-requests: write
          permission-issues: write
""" + _open_step(install) + f"""
  close-issue:
    name: tell and close the issue
    # Only pull requests a bot opened from an issue; the engine checks the bot is a declared
    # request bot before it touches the issue. No secret: the workflow token comments.
    if: >-
      github.event_name == 'pull_request'
      && startsWith(github.event.pull_request.head.ref, 'access-request/issue-')
      && github.event.pull_request.user.type == 'Bot'
    runs-on: ubuntu-24.04
    timeout-minutes: 10
    permissions:
      contents: read  # the default branch's policies (request_bots)
      pull-requests: read  # the pull request: merged or not, opened from which issue
      issues: write  # to comment on the issue and close it
    steps:
      - uses: {CHECKOUT}
        with:
          ref: main  # the default branch's code and policies, never the pull request's
          persist-credentials: false
""" + _install_step(install, ["github"], credentials=False) + _close_step(install)


def _open_step(install: Install) -> str:
    env = ("          GITHUB_TOKEN: ${{ steps.app-token.outputs.token }}\n")
    if install.action is not None:
        return _action_step("Turn the issue into a pull request", install, env, "request",
                            None, ["--from-issue=${{ github.event.issue.number }}"])
    return f"""
      - name: Turn the issue into a pull request
        env:
{env}          ISSUE: ${{{{ github.event.issue.number }}}}
        run: accessctl request --from-issue "$ISSUE"
"""


def _close_step(install: Install) -> str:
    env = "          GITHUB_TOKEN: ${{ github.token }}\n"
    if install.action is not None:
        return _action_step("Tell the issue and close it", install, env, "request", None,
                            ["--close-issue-for-pr=${{ github.event.pull_request.number }}"])
    return f"""
      - name: Tell the issue and close it
        env:
{env}          PULL: ${{{{ github.event.pull_request.number }}}}
        run: accessctl request --close-issue-for-pr "$PULL"
"""
