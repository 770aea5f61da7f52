"""Cut an OpenAPI 3 description down to the paths we use, with every component they reference.

    python tests/contracts/cut_openapi_subset.py UPSTREAM.json SUBSET.json [PATH ...]

The subset keeps the upstream document's `openapi`, `info`, `servers`, `tags` and
`externalDocs`, every path already in SUBSET (when it exists) plus the PATHs named, each copied
whole (all its methods), and the components they reach through `$ref`, transitively. Nothing in a
subset is written by hand: re-running this on the same upstream file gives the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def cut(upstream: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    missing = [p for p in paths if p not in upstream["paths"]]
    if missing:
        raise SystemExit(f"not in the upstream description: {', '.join(missing)}")
    subset: dict[str, Any] = {k: upstream[k] for k in
                              ("openapi", "info", "servers", "tags", "externalDocs")
                              if k in upstream}
    subset["paths"] = {p: upstream["paths"][p] for p in paths}
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(subset["paths"])
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = upstream["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        todo |= _refs(value)
    if "securitySchemes" in upstream.get("components", {}):
        components["securitySchemes"] = upstream["components"]["securitySchemes"]
    subset["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    return subset


def main(argv: list[str]) -> int:
    upstream_file, subset_file, *wanted = argv
    upstream = json.loads(Path(upstream_file).read_text(encoding="utf-8"))
    target = Path(subset_file)
    kept = list(json.loads(target.read_text(encoding="utf-8"))["paths"]) if target.exists() else []
    paths = kept + [p for p in wanted if p not in kept]
    target.write_text(json.dumps(cut(upstream, paths), indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
