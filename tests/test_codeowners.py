"""CODEOWNERS: matching as GitHub and GitLab document it, the generated file, and the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from accessctl.approval.codeowners import (
    ADMIN_PATHS,
    CodeOwners,
    LineError,
    SectionMatch,
    generate,
    handle,
)
from accessctl.core.model import Policies
from accessctl.read.load import MemorySource, TreeSource, load_policies

from tests.cli_runner import invoke
from tests.engine_lock import write_lock
from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, write_repo

ROOT = Path(__file__).resolve().parent.parent

# The example file of GitHub's "About code owners", comments shortened, ending with the variant
# that leaves /apps/github without owners.
GITHUB_EXAMPLE = """\
# Default owners for everything in the repo.
*       @global-owner1 @global-owner2

# The last matching pattern takes the most precedence.
*.js    @js-owner #This is an inline comment.

*.go docs@example.com

*.txt @octo-org/octocats

/build/logs/ @doctocat

# Matches docs/getting-started.md but not docs/build-app/troubleshooting.md.
docs/*  docs@example.com

# Any file in an apps directory anywhere.
apps/ @octocat

/docs/ @doctocat

/scripts/ @doctocat @octocat

# Any file in a logs directory: /build/logs, /scripts/logs, /deeply/nested/logs.
**/logs @octocat

# /apps owned by @octocat, except /apps/github, whose owners are left empty.
/apps/ @octocat
/apps/github
"""

GLOBAL = ("@global-owner1", "@global-owner2")
BOTH = ("@doctocat", "@octocat")

GITHUB_CASES = [
    ("README.md", GLOBAL),
    ("src/index.js", ("@js-owner",)),  # the inline comment is no owner
    ("main.go", ("docs@example.com",)),
    ("notes/todo.txt", ("@octo-org/octocats",)),
    ("build/output/app.txt", ("@octo-org/octocats",)),
    # /build/logs/ matches, but **/logs comes later and wins.
    ("build/logs/today.log", ("@octocat",)),
    ("build/logs.js", ("@js-owner",)),  # logs must be a whole path segment
    ("docs/getting-started.md", ("@doctocat",)),  # docs/* matches, /docs/ is later
    ("docs/build-app/troubleshooting.md", ("@doctocat",)),
    ("guide/docs/intro.md", GLOBAL),  # docs/* and /docs/ are anchored at the root
    ("src/apps/main.py", ("@octocat",)),  # apps/ matches at any depth
    ("apps/web/page.html", ("@octocat",)),
    ("apps/github/client.py", ()),  # a pattern without owners: no owners
    ("apps/github", ()),
    ("apps/githubber/x.py", ("@octocat",)),  # /apps/github names a segment, not a prefix
    ("scripts/deploy.sh", BOTH),
    ("scripts/lint.js", BOTH),  # /scripts/ is below *.js, so it wins
    ("scripts/nested/deep/run.sh", BOTH),
    ("tools/scripts/run.sh", GLOBAL),  # /scripts/ is anchored
    ("deeply/nested/logs/x.txt", ("@octocat",)),
    ("src/logs", ("@octocat",)),
    ("src/catalogs/x.txt", ("@octo-org/octocats",)),
    ("Docs/readme.md", GLOBAL),  # paths are case sensitive
    ("lib/app.JS", GLOBAL),
    ("/scripts/deploy.sh", BOTH),  # a leading slash on the path is the same path
]


@pytest.mark.parametrize(("path", "owners"), GITHUB_CASES, ids=[c[0] for c in GITHUB_CASES])
def test_github_documented_example(path: str, owners: tuple[str, ...]) -> None:
    parsed = CodeOwners.parse(GITHUB_EXAMPLE)
    assert parsed.errors == ()
    assert parsed.owners(path) == owners


PATTERN_CASES = [
    ("docs/*", "docs/a.md", True),
    ("docs/*", "docs/a/b.md", False),  # * does not cross /
    ("docs/*", "x/docs/a.md", False),
    ("docs/", "docs/a/b.md", True),
    ("docs/", "x/docs/a.md", True),  # only a trailing slash: any depth
    ("docs/", "docs", False),  # a directory pattern does not match a file of that name
    ("/docs/", "x/docs/a.md", False),
    ("*.md", "a/b/c.md", True),
    ("/*.md", "README.md", True),
    ("/*.md", "a/README.md", False),
    ("a/*/c", "a/b/c", True),
    ("a/*/c", "a/b/x/c", False),
    ("a/**/c", "a/c", True),  # ** matches no directory too
    ("a/**/c", "a/b/x/c", True),
    ("foo/**", "foo/a/b", True),
    ("foo/**", "foo", False),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file12.txt", False),
    ("README.md", "a/b/README.md", True),
    ("lib/src", "lib/src/a.py", True),  # a path names its directory's contents too
    ("lib/src", "x/lib/src/a.py", False),  # a middle slash anchors
    ("my\\ dir/", "my dir/x", True),
]


@pytest.mark.parametrize(("pattern", "path", "matches"), PATTERN_CASES,
                         ids=[f"{p} {q}" for p, q, _ in PATTERN_CASES])
def test_github_pattern(pattern: str, path: str, matches: bool) -> None:
    parsed = CodeOwners.parse(f"* @fallback\n{pattern} @owner\n")
    assert parsed.owners(path) == (("@owner",) if matches else ("@fallback",))


def test_github_file_is_one_unnamed_section_with_the_last_match() -> None:
    parsed = CodeOwners.parse(GITHUB_EXAMPLE)
    assert parsed.sections_for("scripts/lint.js") == [SectionMatch(None, BOTH)]
    assert parsed.sections_for("apps/github/x") == [SectionMatch(None, ())]
    assert CodeOwners.parse("/docs/ @a\n").sections_for("src/x.py") == []
    rule = parsed.last_match("scripts/lint.js")
    assert rule is not None and (rule.pattern, rule.line) == ("/scripts/", 21)


def test_unsupported_syntax_is_reported_with_line_numbers_and_the_lines_skipped() -> None:
    text = ("* @admins\n"
            "!*.js @a\n"
            "# a comment\n"
            "[abc].md @b\n"
            "\\#notes @c\n"
            "*.py carol\n"
            "*.rb @ruby\n")
    parsed = CodeOwners.parse(text)
    assert [(e.line, e.kind) for e in parsed.errors] == [
        (2, "unsupported_negation"), (4, "unsupported_range"), (5, "unsupported_escape"),
        (6, "invalid_owner"),
    ]
    assert parsed.errors[0] == LineError(2, "unsupported_negation",
                                         "negating a pattern with ! is not supported", "!*.js @a")
    # Skipped lines own nothing: the earlier line still decides.
    assert parsed.owners("x.js") == ("@admins",)
    assert parsed.owners("a.md") == ("@admins",)
    assert parsed.owners("#notes") == ("@admins",)
    assert parsed.owners("x.py") == ("@admins",)
    assert parsed.owners("x.rb") == ("@ruby",)
    assert [r.line for r in parsed.rules] == [1, 7]


def test_a_github_file_has_no_sections() -> None:
    parsed = CodeOwners.parse("[Docs]\ndocs/ @d\n")
    assert [(e.line, e.kind) for e in parsed.errors] == [(1, "unsupported_range")]
    assert parsed.sections_for("docs/a.md") == [SectionMatch(None, ("@d",))]


GITLAB_EXAMPLE = """\
* @default

[Documentation][2] @docs-team
docs/
README.md @readme-owner

^[Database] @database-team
model/db/
config/db/database-setup.md @docs-team

# Same section as [Documentation]: names are not case sensitive.
[documentation]
/docs/api/ @api-team

[Legal][0] @legal
LICENSE
\\#file_with_pound.rb @pound
lib/src/ @group/with-nested/subgroup
"""


def gitlab() -> CodeOwners:
    parsed = CodeOwners.parse(GITLAB_EXAMPLE, gitlab=True)
    assert parsed.errors == ()
    return parsed


def test_gitlab_sections_each_give_their_own_last_match() -> None:
    assert gitlab().sections_for("docs/api/x.md") == [
        SectionMatch(None, ("@default",)),
        SectionMatch("Documentation", ("@api-team",), optional=False, approvals=2),
    ]
    assert gitlab().sections_for("docs/guide.md") == [
        SectionMatch(None, ("@default",)),
        SectionMatch("Documentation", ("@docs-team",), optional=False, approvals=2),
    ]


def test_gitlab_optional_section_and_default_owners() -> None:
    assert gitlab().sections_for("model/db/users.sql") == [
        SectionMatch(None, ("@default",)),
        SectionMatch("Database", ("@database-team",), optional=True, approvals=1),
    ]
    assert gitlab().sections_for("config/db/database-setup.md")[1] == SectionMatch(
        "Database", ("@docs-team",), optional=True, approvals=1)


def test_gitlab_relative_patterns_match_at_any_depth() -> None:
    assert gitlab().sections_for("src/README.md")[1].owners == ("@readme-owner",)
    assert gitlab().sections_for("x/lib/src/a.py")[1].owners == ("@group/with-nested/subgroup",)
    assert CodeOwners.parse("lib/src/ @o\n").owners("x/lib/src/a.py") == ()


def test_gitlab_zero_approvals_mean_one_and_escaped_hash_is_a_pattern() -> None:
    assert gitlab().sections_for("LICENSE") == [
        SectionMatch(None, ("@default",)), SectionMatch("Legal", ("@legal",), False, 1)]
    assert gitlab().sections_for("#file_with_pound.rb")[1].owners == ("@pound",)


def test_gitlab_owners_are_every_matching_sections() -> None:
    assert gitlab().owners("docs/api/x.md") == ("@default", "@api-team")
    assert gitlab().owners("src/main.py") == ("@default",)


def test_gitlab_directory_patterns_need_the_directory() -> None:
    parsed = CodeOwners.parse("/docs/ @d\n/docs/* @root\n", gitlab=True)
    assert parsed.owners("docs/a.md") == ("@root",)
    assert parsed.owners("docs/sub/a.md") == ("@d",)
    assert parsed.owners("other/docs/a.md") == ()


def test_gitlab_section_errors() -> None:
    # `!x` is an exclusion on GitLab (17.10 and later), not an error.
    parsed = CodeOwners.parse("[Unclosed\n[]\n[Sec][two] @a\n[Ok] carol\n!x @a\n", gitlab=True)
    assert [(e.line, e.kind, e.blocks) for e in parsed.errors] == [
        (1, "invalid_section", True), (2, "invalid_section", True),
        (3, "invalid_section", True), (4, "invalid_owner", False),
    ]


# A small policy set: an entitlement approved by a login and a team, one by the security team.
def small_policies() -> Policies:
    by_login = ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false").replace(
        'approvers: ["@acme/security"]', 'approvers: [carol, "@acme/sre"]')
    policies, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES.replace('admins: ["@acme/security"]',
                                                       'admins: ["@acme/security", bob]'),
        "policies/entitlements/prod-admin.yaml": by_login,
        "policies/entitlements/break-glass.yaml": ENTITLEMENT.format(
            name="break-glass", group="b", exclusive="true"),
    }))
    assert policies is not None and findings == []
    return policies


SMALL = """\
# Generated from policies/ by `accessctl codeowners --write`: do not edit by hand,
# change the policies and run `accessctl codeowners --write` again.
# The last matching line wins.

# Anything not listed below needs an admin.
* @acme/security @bob

# The policies, the engine and CI: admins only.
/policies/ @acme/security @bob
/schemas/ @acme/security @bob
/engine/ @acme/security @bob
/emulators/ @acme/security @bob
/.github/ @acme/security @bob
/.gitlab/ @acme/security @bob
/.gitlab-ci.yml @acme/security @bob
/CODEOWNERS @acme/security @bob
/docs/CODEOWNERS @acme/security @bob
/pyproject.toml @acme/security @bob
/Makefile @acme/security @bob
/.ci/ @acme/security @bob

# Requests for each entitlement: its approvers only.
/access-requests/break-glass/ @acme/security
/access-requests/prod-admin/ @carol @acme/sre
"""


def test_generated_file_for_a_small_policy_set() -> None:
    assert generate(small_policies()) == SMALL
    parsed = CodeOwners.parse(SMALL)
    assert parsed.errors == ()
    assert parsed.owners("access-requests/prod-admin/alice.yaml") == ("@carol", "@acme/sre")
    assert parsed.owners("access-requests/unknown/alice.yaml") == ("@acme/security", "@bob")
    assert parsed.owners("policies/entitlements/prod-admin.yaml") == ("@acme/security", "@bob")
    assert parsed.owners("engine/accessctl/emulators/gitlab.py") == ("@acme/security", "@bob")


def test_generate_refuses_policies_without_admins() -> None:
    policies = small_policies()
    without = Policies(policies.entitlements, policies.people, policies.teams,
                       policies.providers, ())
    with pytest.raises(ValueError, match="no admins"):
        generate(without)


def bundled() -> Policies:
    policies, findings = load_policies(TreeSource(ROOT))
    assert policies is not None and findings == []
    return policies


def test_each_entitlements_approvers_alone_own_its_requests() -> None:
    policies = bundled()
    assert policies.entitlements
    for dialect in (False, True):
        parsed = CodeOwners.parse(generate(policies), gitlab=dialect)
        assert parsed.errors == ()
        for name, entitlement in policies.entitlements.items():
            approvers = tuple(handle(a) for a in entitlement.approvers)
            for path in (f"access-requests/{name}/alice-x.yaml",
                         f"access-requests/{name}/nested/deeper/x.yaml",
                         f"access-requests/{name}/.hidden", f"access-requests/{name}/x.md"):
                assert parsed.owners(path) == approvers, (dialect, path)
                assert len(parsed.sections_for(path)) == 1
        admins = tuple(handle(a) for a in policies.admins)
        for path in ADMIN_PATHS:
            assert parsed.owners(path.strip("/") + ("/x" if path.endswith("/") else "")) == admins
        assert parsed.owners("access-requests/no-such-entitlement/x.yaml") == admins
        assert parsed.owners("README.md") == admins


def test_committed_codeowners_is_current() -> None:
    assert (ROOT / ".github" / "CODEOWNERS").read_text() == generate(bundled())


def test_write_then_check(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    stale = invoke("codeowners", "--check", "--repo", str(repo))
    assert stale.code == 1
    assert "run 'accessctl codeowners --write'" in stale.err
    written = invoke("codeowners", "--write", "--repo", str(repo))
    assert written.code == 0, written.err
    text = (repo / ".github" / "CODEOWNERS").read_text()
    assert "/access-requests/prod-admin/ @acme/security" in text
    assert invoke("codeowners", "--check", "--repo", str(repo)).code == 0


def test_check_fails_after_a_hand_edit_or_a_policy_change(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    assert invoke("codeowners", "--write", "--repo", str(repo)).code == 0
    target = repo / ".github" / "CODEOWNERS"
    original = target.read_text()
    target.write_text(original + "/access-requests/prod-admin/ @mallory\n")
    result = invoke("codeowners", "--check", "--repo", str(repo))
    assert result.code == 1
    assert result.err.strip() == ("accessctl: .github/CODEOWNERS does not match the policies "
                                  "(it is the CODEOWNERS github uses): run 'accessctl codeowners "
                                  "--write' and commit the result")
    target.write_text(original)
    entitlement = repo / "policies" / "entitlements" / "prod-admin.yaml"
    entitlement.write_text(entitlement.read_text().replace('"@acme/security"', "carol"))
    assert invoke("codeowners", "--check", "--repo", str(repo)).code == 1
    assert invoke("codeowners", "--write", "--repo", str(repo)).code == 0
    assert "/access-requests/prod-admin/ @carol" in target.read_text()


def test_policy_findings_are_printed_and_nothing_is_written(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    (repo / "policies" / "entitlements" / "broken.yaml").write_text("name: broken\n")
    result = invoke("codeowners", "--write", "--repo", str(repo))
    assert result.code == 1
    assert "policies/entitlements/broken.yaml" in result.out
    assert not (repo / ".github" / "CODEOWNERS").exists()


@pytest.mark.parametrize("command", ["codeowners", "schemas", "workflows"])
def test_both_modes_at_once_is_a_usage_error(tmp_path: Path, command: str) -> None:
    result = invoke(command, "--write", "--check", "--repo", str(write_repo(tmp_path)))
    assert result.code == 2
    assert "pass one of --write or --check, not both" in result.err


@pytest.mark.parametrize("command", ["codeowners", "schemas", "workflows"])
def test_without_a_flag_each_generator_checks(tmp_path: Path, command: str) -> None:
    # Alike: no flag is --check (codeowners used to exit 2 where schemas checked and exited 0).
    repo = write_repo(tmp_path)
    stale = invoke(command, "--repo", str(repo))
    assert stale.code == 1, stale.out + stale.err
    assert "run 'accessctl " in stale.err and "--write" in stale.err
    assert invoke(command, "--write", "--repo", str(repo)).code == 0
    if command == "workflows":
        write_lock(repo)  # the generated jobs install the engine from its lock (accessctl lock)
    fresh = invoke(command, "--repo", str(repo))
    assert fresh.code == 0, fresh.out + fresh.err
    assert "up to date" in fresh.out


def test_a_directory_without_policies_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("codeowners", "--check", "--repo", str(tmp_path))
    assert result.code == 2 and "no policies/" in result.err


def test_generate_refuses_owners_it_cannot_write() -> None:
    policies = small_policies()
    spaced = Policies(policies.entitlements, policies.people, policies.teams,
                      policies.providers, ("carol smith",))
    with pytest.raises(ValueError, match="'@carol smith' is not a login"):
        generate(spaced)


@pytest.mark.parametrize(("vcs", "stray", "used"), [
    # GitHub looks in .github/, the root, docs/; GitLab in the root, docs/, .gitlab/.
    ("github", "CODEOWNERS", ".github/CODEOWNERS"),
    ("github", "docs/CODEOWNERS", ".github/CODEOWNERS"),
    ("gitlab", "CODEOWNERS", "CODEOWNERS"),
    ("gitlab", "docs/CODEOWNERS", "docs/CODEOWNERS"),
    ("gitlab", ".gitlab/CODEOWNERS", ".gitlab/CODEOWNERS"),
])
def test_check_judges_the_file_the_platform_uses(tmp_path: Path, vcs: str, stray: str,
                                                 used: str) -> None:
    """A hand-written CODEOWNERS earlier in the platform's search order is the one it obeys:
    --check must look at that file, not at the one the engine would have written."""
    repo = write_repo(tmp_path)
    assert invoke("codeowners", "--write", "--vcs", vcs, "--repo", str(repo)).code == 0
    (repo / stray).parent.mkdir(exist_ok=True)
    (repo / stray).write_text("* @mallory\n")
    result = invoke("codeowners", "--check", "--vcs", vcs, "--repo", str(repo))
    if used == stray:
        assert result.code == 1
        assert result.err.startswith(f"accessctl: {used} does not match the policies")
        assert invoke("codeowners", "--write", "--vcs", vcs, "--repo", str(repo)).code == 0
        assert "@mallory" not in (repo / used).read_text()
    else:
        assert result.code == 0, result.err
        assert result.out.strip() == f"{used} is up to date"


def test_gitlab_writes_under_dot_gitlab_when_there_is_none(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    missing = invoke("codeowners", "--check", "--vcs", "gitlab", "--repo", str(repo))
    assert missing.code == 1
    assert "run 'accessctl codeowners --write --vcs gitlab'" in missing.err
    written = invoke("codeowners", "--write", "--vcs", "gitlab", "--repo", str(repo))
    assert written.code == 0 and written.out.strip() == "wrote .gitlab/CODEOWNERS"
    assert invoke("codeowners", "--write", "--repo", str(repo)).code == 0
    # One text for both platforms: the generated lines read the same in either dialect.
    assert (repo / ".gitlab" / "CODEOWNERS").read_text() == \
        (repo / ".github" / "CODEOWNERS").read_text()
    assert invoke("codeowners", "--check", "--vcs", "gitlab", "--repo", str(repo)).code == 0
