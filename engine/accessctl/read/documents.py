"""One YAML file of the repository read and checked against its JSON Schema, with every problem
as a finding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

from accessctl import schemas
from accessctl.core.model import Finding, Location
from accessctl.read.paths import IDENTITIES_FILE, PROVIDERS_FILE, YAML_SUFFIXES
from accessctl.read.schema_errors import findings as schema_findings
from accessctl.read.sources import FileSource
from accessctl.read.yamlfile import (
    POLICY_MAX_FILE_BYTES,
    POLICY_MAX_NODES,
    Document,
    expect_mapping,
    parse,
)

_LARGE_FILES = frozenset({IDENTITIES_FILE, PROVIDERS_FILE})
"""Files that grow with the organisation get the larger policy limits; requests and entitlements
keep the small ones."""


def read_document(source: FileSource, path: str, schema: str
                  ) -> tuple[Document | None, list[Finding]]:
    """The file at `path`, parsed (within the size limits of its kind) and valid against
    `schema`; None and the findings when it is not."""
    raw = source.read(path)
    if raw is None:
        return None, [Finding(Location(path), "missing-file", f"{path} is missing")]
    if path in _LARGE_FILES:
        document, problems = parse(raw, path, max_bytes=POLICY_MAX_FILE_BYTES,
                                   max_nodes=POLICY_MAX_NODES)
    else:
        document, problems = parse(raw, path)
    if document is None:
        return None, problems
    problems = expect_mapping(document)
    if problems:
        return None, problems
    errors = schemas.errors(schema, document.data)
    if errors:
        return None, schema_findings(document, errors, f"schema-{schema}")
    return document, []


def documents_in(source: FileSource, directory: str, schema: str, found: list[Finding]
                 ) -> Iterator[tuple[PurePosixPath, Document]]:
    """Each `<name>.yaml` directly in `directory`, loaded and checked against `schema`; anything
    else there, and every problem, goes to `found`."""
    for path in source.list(directory):
        pure = PurePosixPath(path)
        if pure.suffix not in YAML_SUFFIXES or pure.parent.as_posix() != directory:
            found.append(Finding(Location(path), "stray-file",
                                 f"only <name>.yaml files belong in {directory}/"))
            continue
        document, problems = read_document(source, path, schema)
        found.extend(problems)
        if document is not None:
            yield pure, document
