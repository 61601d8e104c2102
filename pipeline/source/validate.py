"""Validate publication.yaml against its JSON schema (pipeline/publication.schema.json): one
problem per violation, at the key or value at fault, worded from the schema's descriptions.
"""

from __future__ import annotations

import difflib
import json
from importlib import resources
from pathlib import Path

import jsonschema

from pipeline.errors import Problem
from pipeline.source.yamldoc import YamlDoc


_SCHEMA = json.loads(resources.files("pipeline").joinpath("publication.schema.json").read_text("utf-8"))


def schema() -> dict:
    return _SCHEMA


def _schema_problems(path: Path, doc: YamlDoc, schema: dict | None = None) -> list[Problem]:
    """One problem per schema violation; the messages and hints come from
    the schema (its ``description`` of the key at fault). ``schema``:
    publication.yaml's unless another file's is given (publish.yaml's)."""
    schema = schema or _SCHEMA
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    out = []

    def problem(message, hint, where, key=True):
        line, column = doc.pos(where, key=key)
        out.append(Problem(path, message, hint, line=line, column=column))

    for err in sorted(validator.iter_errors(doc.data), key=lambda e: (doc.line(tuple(e.absolute_path)) or 0, str(e.message))):
        where = tuple(err.absolute_path)
        name = ".".join(str(p) for p in where) or "publication"
        sub = _subschema(where, schema)
        if "propertyNames" in err.schema_path:
            problem(f"'{err.instance}' is not a valid key in '{name}'",
                    (sub.get("propertyNames") or {}).get("description", "") or "rename the key", where + (err.instance,))
        elif err.validator == "additionalProperties":
            allowed = list((err.schema.get("properties") or {}).keys())
            for key in err.instance:
                if key in allowed:
                    continue
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"allowed keys here: {', '.join(allowed)}"
                problem(f"unknown key '{key}'" + (f" in {name}" if where else ""), hint, where + (key,))
        elif err.validator == "required":
            missing = err.message.split("'")[1]
            desc = ((err.schema.get("properties") or {}).get(missing) or {}).get("description", "")
            problem(f"required key '{missing}' is missing" + (f" in {name}" if where else ""),
                    f"add '{missing}:'" + (f" ({desc})" if desc else ""), where)
        elif err.validator == "pattern" or err.validator == "format":
            desc = sub.get("description", "")
            problem(f"'{name}' has the value {err.instance!r}, which is not valid",
                    desc or f"it must match {err.validator_value}", where, key=False)
        elif err.validator == "type":
            want = err.validator_value
            want = " or ".join(want) if isinstance(want, list) else want
            article = "an" if str(want)[0] in "aeiou" else "a"
            got = "nothing" if err.instance is None else f"{type(err.instance).__name__} {err.instance!r}"
            problem(f"'{name}' must be {article} {want}, not {got}",
                    sub.get("description", "") or "correct the value", where, key=False)
        elif err.validator == "minItems":
            problem(f"'{name}' is empty", sub.get("description", "") or "add at least one item", where)
        else:
            problem(f"'{name}': {err.message}", sub.get("description", ""), where, key=False)
    return out


def _formats_problems(path: Path, doc: YamlDoc) -> list[Problem]:
    """``formats:`` names only registered formats (``pipeline.formats``;
    the schema has checked its shape)."""
    from pipeline import formats

    out = []
    for i, message, hint in formats.problems_in_yaml(doc.data.get("formats")):
        line, column = doc.pos(("formats", i), key=False)
        out.append(Problem(path, message, hint, line=line, column=column))
    return out


def _subschema(path: tuple, schema: dict | None = None) -> dict:
    node = schema or _SCHEMA
    for p in path:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            extra = node.get("additionalProperties")
            node = (node.get("properties") or {}).get(p) or (extra if isinstance(extra, dict) else {})
    return node
