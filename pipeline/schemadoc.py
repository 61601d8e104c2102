"""The README's reference of publication.yaml, generated from
pipeline/publication.schema.json so the two cannot drift apart.

    python -m pipeline.schemadoc                  print the reference
    python -m pipeline.schemadoc --write README.md   replace it in the README
    python -m pipeline.schemadoc --check README.md   exit 1 if the README's copy differs

The reference sits between two marker comments in the README; everything
outside them is left alone. tests/test_docs.py fails when the README's
copy is not what this module generates.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

BEGIN = ("<!-- BEGIN publication.yaml reference: generated from pipeline/publication.schema.json by "
         "`python -m pipeline.schemadoc --write README.md`; edit the schema, not this table -->")
END = "<!-- END publication.yaml reference -->"
#: The same for publish.yaml (``pipeline publish``'s destinations), from pipeline/publish.schema.json.
BEGIN_PUBLISH = ("<!-- BEGIN publish.yaml reference: generated from pipeline/publish.schema.json by "
                 "`python -m pipeline.schemadoc --write README.md`; edit the schema, not this table -->")
END_PUBLISH = "<!-- END publish.yaml reference -->"

TYPES = {"string": "text", "number": "number", "integer": "whole number", "boolean": "true or false",
         "object": "mapping", "array": "list"}


def schema(name: str = "publication.schema.json") -> dict:
    return json.loads(resources.files("pipeline").joinpath(name).read_text("utf-8"))


def type_of(node: dict) -> str:
    """A reader's name for a sub-schema's type, with its main constraints."""
    if "enum" in node:
        return " or ".join(str(v) for v in node["enum"])
    kind = node.get("type", "")
    if isinstance(kind, list):
        return " or ".join(TYPES.get(k, k) for k in kind)
    if kind == "array":
        items = node.get("items", {})
        inner = "mappings" if items.get("type") == "object" else TYPES.get(items.get("type", ""), "items")
        inner = {"text": "texts", "number": "numbers"}.get(inner, inner)
        text = f"list of {inner}"
        if node.get("minItems"):
            text += f", at least {node['minItems']}"
        return text
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"mapping of names to {type_of(node['additionalProperties'])}"
    if kind == "string" and node.get("format") == "date":
        return "date, YYYY-MM-DD"
    if kind == "string" and node.get("pattern", "").startswith("^[0-9]+\\.[0-9]+\\.[0-9]+"):
        return "version, MAJOR.MINOR.PATCH"
    if kind == "string" and node.get("minLength"):
        return "text, not empty"
    return TYPES.get(kind, kind or "any")


def rows(node: dict, prefix: str = ""):
    """(key path, required, type, description) for every key, depth first."""
    required = set(node.get("required", []))
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{name}"
        yield path, name in required, type_of(sub), " ".join(sub.get("description", "").split())
        if sub.get("type") == "object" and "properties" in sub:
            yield from rows(sub, path + ".")
        elif sub.get("type") == "array" and "properties" in sub.get("items", {}):
            yield from rows(sub["items"], path + "[].")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def generate(s: dict | None = None, begin: str = BEGIN, end: str = END) -> str:
    """The reference as Markdown, markers included."""
    s = s or schema()
    lines = [begin, "",
             "| Key | Required | Type | What it is |",
             "|-----|----------|------|------------|"]
    for path, required, kind, description in rows(s):
        lines.append(f"| `{path}` | {'yes' if required else 'no'} | {_cell(kind)} | {_cell(description)} |")
    lines += ["", "`a[].b` is the key `b` of each item of the list `a`. Keys not listed here are refused, "
              "with a suggestion when the name is close to one of these.", "", end]
    return "\n".join(lines)


def generate_publish() -> str:
    """publish.yaml's reference: ``destinations.NAME.key`` for each key of
    a destination."""
    s = schema("publish.schema.json")
    dest = s["properties"]["destinations"]["additionalProperties"]
    s = {**s, "properties": {**s["properties"], "destinations": {
        **s["properties"]["destinations"], "properties": {"NAME": {**dest, "description": "One destination; NAME is "
                                                                   "what --to takes."}}}}}
    return generate(s, BEGIN_PUBLISH, END_PUBLISH).replace(
        "`a[].b` is the key `b` of each item of the list `a`. ", "")


def section(text: str, begin: str = BEGIN, end: str = END) -> str | None:
    """The generated section of a README (markers included), if it has one."""
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return None
    return text[start:stop + len(end)]


def replace(text: str, new: str, begin: str = BEGIN, end: str = END) -> str:
    old = section(text, begin, end)
    if old is None:
        raise ValueError("the README has no generated reference section; put these two lines where it belongs:\n"
                         f"{begin}\n{end}")
    return text.replace(old, new, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.schemadoc", description=__doc__.split("\n\n")[0],
                                epilog="example:\n  python -m pipeline.schemadoc --write README.md",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="FILE", help="replace the reference in FILE")
    group.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE's reference is out of date")
    args = p.parse_args(argv)
    new = generate()
    if args.write is None and args.check is None:
        print(new)
        return 0
    path = args.write or args.check
    try:
        text = path.read_text("utf-8")
        updated = replace(text, new)
        if section(text, BEGIN_PUBLISH, END_PUBLISH) is not None:
            updated = replace(updated, generate_publish(), BEGIN_PUBLISH, END_PUBLISH)
    except (OSError, ValueError) as exc:
        print(f"{path}: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if updated != text:
            print(f"{path}: the publication.yaml reference is out of date; run python -m pipeline.schemadoc --write {path}",
                  file=sys.stderr)
            return 1
        return 0
    if updated != text:
        path.write_text(updated, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
