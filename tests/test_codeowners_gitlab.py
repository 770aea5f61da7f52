"""CODEOWNERS read as GitLab reads it: the documented examples, each with the owners GitLab
gives a path and the approvals it requires, and the lines the engine cannot read.

The examples are those of GitLab's "Syntax of CODEOWNERS file" and "Advanced CODEOWNERS
configuration" pages (docs.gitlab.com/user/project/codeowners/reference and .../advanced).
A path gets, from each section with a matching line (the lines before the first section are a
section too), the owners of that section's last matching line; every such section not marked
optional needs its approvals (one unless `[Name][N]` says more).
"""

from __future__ import annotations

import pytest
from accessctl.approval.codeowners import CodeOwners, SectionMatch

REFERENCE = """\
# Specify a default Code Owner for all files with a wildcard:
* @default-owner

# Specify multiple Code Owners to a specific file:
README.md @doc-team @tech-lead

# Specify a Code Owner to all files with a specific extension:
*.rb @ruby-owner

# Specify Code Owners with usernames or email addresses:
LICENSE @legal janedoe@gitlab.com

# Use group names to match groups and nested groups:
README @group @group/with-nested/subgroup

# Specify a Code Owner to a directory and all its contents:
/docs/ @all-docs
/docs/* @root-docs
/docs/**/*.md @markdown-docs  # Match specific file types in any subdirectory
/db/**/index.md @index-docs   # Match a specific file name in any subdirectory

# Use a section to group related rules:
[Documentation]
ee/docs    @docs
docs       @docs

# Assign a role as a Code Owner:
/config/ @@maintainer
"""

README_SECTIONS = """\
* @admin

[README Owners]
README.md @user1 @user2
internal/README.md @user4

[README other owners]
README.md @user3
"""

SECTION_DEFAULTS = """\
[Documentation] @docs-team
docs/
README.md

[Database] @database-team @agarcia
model/db/
config/db/database-setup.md @docs-team
"""

OPTIONAL = """\
[Documentation]
*.md @root

[Ruby]
*.rb @root

^[Go]
*.go @root
"""

DEFAULTS_AND_OPTIONAL = """\
[Documentation][2] @docs-team
docs/
README.md

^[Database] @database-team
model/db/
config/db/database-setup.md @docs-team
"""

REGULAR_AND_SECTIONS = """\
# Required for all files
* @general-approvers

[Documentation] @docs-team
docs/
README.md
*.txt

[Database] @database-team
model/db/
config/db/database-setup.md @docs-team
"""

DUPLICATE_NAMES = """\
[Documentation]
ee/docs/    @docs
docs/       @docs

[Database]
README.md  @database
model/db/   @database

[DOCUMENTATION]
README.md  @docs
"""

LAST_MATCH = """\
# This line would match the file terms.md
*.md @doc-team

# This line would also match the file terms.md
terms.md @legal-team
"""

MULTIPLE_APPROVALS = """\
[Documentation][2]
*.md @tech-writer-team

[Ruby]
*.rb @dev-team
"""

EXCLUSIONS = """\
# All files require approval from @username
* @username

# Except pom.xml which needs no approval
!pom.xml

[Ruby]
# All ruby files require approval from @ruby-team
*.rb @ruby-team

# Except Ruby files in the config directory
!/config/**/*.rb
"""

EXCLUDED_FOR_GOOD = """\
* @default-owner
!*.rb                      # Excludes all Ruby files.
/special/*.rb @ruby-owner  # This won't take effect as *.rb is already excluded.
"""

ROLES = """\
file.md @@developer @@maintainer
other.md @@Owners
"""

MALFORMED_OWNERS = """\
/path/* @group user_without_at_symbol @user_with_at_symbol
"""

SPACES_AND_POUND = """\
path\\ with\\ spaces/*.md @owner
\\#file_with_pound.rb @owner-file-with-pound
"""

ZERO_IS_ONE = """\
[Legal][0]
LICENSE @legal
"""

Case = tuple[str, str, list[tuple[str | None, tuple[str, ...]]], int]

CASES: list[Case] = [
    # The syntax page's example file.
    (REFERENCE, "README.md", [(None, ("@doc-team", "@tech-lead"))], 1),
    (REFERENCE, "app/models/user.rb", [(None, ("@ruby-owner",))], 1),
    (REFERENCE, "LICENSE", [(None, ("@legal", "janedoe@gitlab.com"))], 1),
    (REFERENCE, "lib/README", [(None, ("@group", "@group/with-nested/subgroup"))], 1),
    (REFERENCE, "docs/guide.txt", [(None, ("@root-docs",))], 1),
    (REFERENCE, "docs/api/guide.txt", [(None, ("@all-docs",))], 1),
    # The inline comment is no comment on GitLab: its words are no owners, @markdown-docs is.
    (REFERENCE, "docs/api/README.md", [(None, ("@markdown-docs",))], 1),
    (REFERENCE, "db/a/b/index.md", [(None, ("@index-docs",))], 1),
    # `docs` without a slash names a file called docs, not a directory's contents.
    (REFERENCE, "ee/docs", [(None, ("@default-owner",)), ("Documentation", ("@docs",))], 2),
    (REFERENCE, "config/app.yml",
     [(None, ("@default-owner",)), ("Documentation", ("@@maintainer",))], 2),
    # Sections: one owner line per section, the last that matches.
    (README_SECTIONS, "README.md", [(None, ("@admin",)), ("README Owners", ("@user1", "@user2")),
                                    ("README other owners", ("@user3",))], 3),
    (README_SECTIONS, "internal/README.md",
     [(None, ("@admin",)), ("README Owners", ("@user4",)), ("README other owners", ("@user3",))],
     3),
    # Default owners of a section, overridden by a line's own.
    (SECTION_DEFAULTS, "docs/a.md", [("Documentation", ("@docs-team",))], 1),
    (SECTION_DEFAULTS, "model/db/schema.rb", [("Database", ("@database-team", "@agarcia"))], 1),
    (SECTION_DEFAULTS, "config/db/database-setup.md", [("Database", ("@docs-team",))], 1),
    # Optional sections need no approval.
    (OPTIONAL, "main.go", [("Go", ("@root",))], 0),
    (OPTIONAL, "notes.md", [("Documentation", ("@root",))], 1),
    (DEFAULTS_AND_OPTIONAL, "docs/a.md", [("Documentation", ("@docs-team",))], 2),
    (DEFAULTS_AND_OPTIONAL, "model/db/x.sql", [("Database", ("@database-team",))], 0),
    # "A merge request that modifies model/db/CHANGELOG.txt would require three approvals."
    (REGULAR_AND_SECTIONS, "model/db/CHANGELOG.txt",
     [(None, ("@general-approvers",)), ("Documentation", ("@docs-team",)),
      ("Database", ("@database-team",))], 3),
    (REGULAR_AND_SECTIONS, "src/main.py", [(None, ("@general-approvers",))], 1),
    # Sections with the same name (in any case) are one, named as first written.
    (DUPLICATE_NAMES, "README.md", [("Documentation", ("@docs",)), ("Database", ("@database",))],
     2),
    (LAST_MATCH, "terms.md", [(None, ("@legal-team",))], 1),
    (MULTIPLE_APPROVALS, "README.md", [("Documentation", ("@tech-writer-team",))], 2),
    # Exclusions: a file an exclusion matches needs nothing from that section.
    (EXCLUSIONS, "pom.xml", [], 0),
    (EXCLUSIONS, "app/user.rb", [(None, ("@username",)), ("Ruby", ("@ruby-team",))], 2),
    (EXCLUSIONS, "config/initializers/x.rb", [(None, ("@username",))], 1),
    (EXCLUDED_FOR_GOOD, "special/a.rb", [], 0),
    (EXCLUDED_FOR_GOOD, "special/a.py", [(None, ("@default-owner",))], 1),
    # Roles, plural and in any case.
    (ROLES, "file.md", [(None, ("@@developer", "@@maintainer"))], 1),
    (ROLES, "other.md", [(None, ("@@owner",))], 1),
    # "This entry is owned by @group and @user_with_at_symbol."
    (MALFORMED_OWNERS, "path/x", [(None, ("@group", "@user_with_at_symbol"))], 1),
    (SPACES_AND_POUND, "path with spaces/a.md", [(None, ("@owner",))], 1),
    (SPACES_AND_POUND, "lib/#file_with_pound.rb", [(None, ("@owner-file-with-pound",))], 1),
    # "Setting the number of approvals to 0 results in GitLab requiring one approval."
    (ZERO_IS_ONE, "LICENSE", [("Legal", ("@legal",))], 1),
]


def required(sections: list[SectionMatch]) -> int:
    return sum(s.approvals for s in sections if not s.optional)


@pytest.mark.parametrize(("text", "path", "owners", "approvals"), CASES,
                         ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_gitlab_documented_examples(text: str, path: str,
                                    owners: list[tuple[str | None, tuple[str, ...]]],
                                    approvals: int) -> None:
    parsed = CodeOwners.parse(text, gitlab=True)
    assert parsed.unreadable_for(path) == []
    sections = parsed.sections_for(path)
    assert [(s.name, s.owners) for s in sections] == owners
    assert required(sections) == approvals


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("/access-requests/prod-[a]dmin/", "access-requests/prod-admin/x.yaml", True),
    ("/access-requests/prod-[a]dmin/", "access-requests/prod-Admin/x.yaml", False),
    ("/f[a-c]o", "fbo", True),
    ("/f[a-c]o", "fdo", False),
    ("/f[!a-c]o", "fdo", True),
    ("/f[^a-c]o", "fao", False),
    ("/a[/]b", "a/b", False),  # a class never matches the separator
    ("/a[!x]b", "a/b", False),
    ("/x\\[y\\]", "x[y]", True),
    ("/", "any/file", True),  # "/" is every file (GitLab makes it /**/*)
    ("*", ".hidden/x", True),  # dot files too
])
def test_gitlab_patterns(pattern: str, path: str, matches: bool) -> None:
    parsed = CodeOwners.parse(f"{pattern} @o\n", gitlab=True)
    assert parsed.unreadable_for(path) == []
    assert parsed.owners(path) == (("@o",) if matches else ())


def test_a_codeowners_file_names_itself_in_its_problems() -> None:
    parsed = CodeOwners.parse("* @a\n\\\n", gitlab=True, file=".gitlab/CODEOWNERS")
    [problem] = parsed.unreadable_for("x")
    assert problem.line == 2 and parsed.file == ".gitlab/CODEOWNERS"


@pytest.mark.parametrize(("text", "line", "covered", "free"), [
    # A lone backslash: no pattern can be read from it, so it could cover anything.
    ("* @a\n\\\n", 2, ["x", "access-requests/p/a.yaml"], []),
    # An unclosed character class: GitLab's fnmatch would match nothing, which drops the rule.
    ("* @a\n[Access][2]\n/access-requests/[ab/ @b\n", 3, ["access-requests/p/a.yaml"], []),
    # A heading that is not one: which section the lines below belong to is unknown.
    ("* @a\n[Section name\ndocs/ @d\n", 2, ["src/x", "docs/a.md"], []),
    ("* @a\n[Sec][two] @b\ndocs/ @d\n", 2, ["src/x"], []),
    ("* @a\n[]\ndocs/ @d\n", 2, ["src/x"], []),
    ("* @a\n[Ok].md @b\n", 2, ["src/x"], []),
    ("* @a\n^[Opt][2] @b\ndocs/ @d\n", 2, ["src/x"], []),
])
def test_a_line_the_engine_cannot_read_covers_what_it_could_cover(
        text: str, line: int, covered: list[str], free: list[str]) -> None:
    parsed = CodeOwners.parse(text, gitlab=True)
    for path in covered:
        assert [e.line for e in parsed.unreadable_for(path)] == [line], path
    for path in free:
        assert parsed.unreadable_for(path) == [], path


def test_an_unreadable_line_that_could_only_ask_less_does_not_block() -> None:
    """Without an exclusion, or a line of an optional section, the engine asks more than
    GitLab, never less: such a line is reported, not blocking."""
    text = "* @a\n!docs/[x\n^[Opt]\n\\\n[docs][2]\nREADME.md @b\n"
    parsed = CodeOwners.parse(text, gitlab=True)
    assert [(e.line, e.kind, e.blocks) for e in parsed.errors] == [
        (2, "invalid_pattern", False), (4, "invalid_pattern", False)]
    assert parsed.unreadable_for("docs/x.md") == []
    # The same line in a section that a later heading makes required blocks.
    required = CodeOwners.parse("^[Opt]\n\\\n[opt]\nx @b\n", gitlab=True)
    assert [e.line for e in required.unreadable_for("x")] == [2]


def test_a_malformed_owner_is_reported_and_ignored_as_gitlab_does() -> None:
    parsed = CodeOwners.parse("docs/ @d carol\n", gitlab=True)
    assert [(e.line, e.kind) for e in parsed.errors] == [(1, "invalid_owner")]
    assert parsed.unreadable_for("docs/a.md") == []
    assert parsed.owners("docs/a.md") == ("@d",)


def test_a_line_with_only_unusable_owners_leaves_its_files_without_owners() -> None:
    """GitLab would approve such a line by itself; the engine gives it no owner, so no
    approval can satisfy it."""
    parsed = CodeOwners.parse("* @a\n[Legal]\nLICENSE legal\n", gitlab=True)
    assert parsed.sections_for("LICENSE") == [SectionMatch(None, ("@a",)),
                                              SectionMatch("Legal", ())]


def test_a_required_heading_beats_an_optional_one_of_the_same_name() -> None:
    parsed = CodeOwners.parse("^[Docs]\n*.md @a\n[docs][2]\nREADME.md @b\n", gitlab=True)
    assert parsed.sections_for("README.md") == [SectionMatch("Docs", ("@b",), False, 2)]
    assert parsed.sections_for("x.md") == [SectionMatch("Docs", ("@a",), False, 2)]


def test_github_is_unchanged_by_gitlab_syntax() -> None:
    """GitHub has no sections, roles, exclusions or classes: such lines are reported and
    skipped as GitHub skips them, and a lone backslash is one more such line."""
    parsed = CodeOwners.parse("* @a\n\\\n[ab].md @b\n!x @c\nx.md @@maintainer\n")
    assert [(e.line, e.kind) for e in parsed.errors] == [
        (2, "invalid_pattern"), (3, "unsupported_range"), (4, "unsupported_negation"),
        (5, "invalid_owner")]
    assert parsed.unreadable_for("x.md") == []
    assert parsed.owners("x.md") == ("@a",)
    assert parsed.owners("a.md") == ("@a",)
