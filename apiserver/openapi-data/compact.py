#!/usr/bin/env python3
"""Regenerates k8s-v1.33-extensions.json from kubernetes-validate's published definitions.

Usage: pip download --no-deps kubernetes-validate==1.33.0 && unzip the wheel, then
  python3 compact.py <wheel>/kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json

Only the x-kubernetes-* extensions that the schema index cannot derive from the typed
definitions are kept: per definition ("" key) and per property.
"""
import json
import sys

KEEP = (
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-unions",
)


def pick(schema):
    return {k: schema[k] for k in KEEP if k in schema}


def main(path):
    defs = json.load(open(path))["$defs"]
    out = {}
    for name in sorted(defs):
        schema = defs[name]
        entry = {}
        own = pick(schema)
        if own:
            entry[""] = own
        for prop, sub in sorted(schema.get("properties", {}).items()):
            ext = pick(sub)
            if ext:
                entry[prop] = ext
        if entry:
            out[name] = entry
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
