"""Cut the part of PagerDuty's REST API description the engine uses (see README.md here).

Usage: python tests/contracts/cut_subset.py openapiv3.json > pagerduty-rest-subset.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

with open(sys.argv[1], encoding="utf-8") as handle:
    source = json.load(handle)
keep_paths = {"/oncalls": ["get"]}
out = {k: source[k] for k in ("openapi", "info", "servers") if k in source}
if "security" in source:
    out["security"] = source["security"]
out["paths"] = {p: {m: source["paths"][p][m] for m in ms} for p, ms in keep_paths.items()}
components = source["components"]
wanted: dict[str, set[str]] = {}


def walk(node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            kind, name = ref.split("/")[2:4]
            name = name.replace("~1", "/").replace("~0", "~")
            if name not in wanted.setdefault(kind, set()):
                wanted[kind].add(name)
                walk(components[kind][name])
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


walk(out["paths"])
if "securitySchemes" in components:
    wanted.setdefault("securitySchemes", set()).update(components["securitySchemes"])
out["components"] = {k: {n: components[k][n] for n in sorted(ns)}
                     for k, ns in sorted(wanted.items())}
json.dump(out, sys.stdout, indent=1)
sys.stdout.write("\n")
