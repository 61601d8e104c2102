"""The documentation cannot drift from the program: the README's
publication.yaml reference is what the schema generates, the scaffold's
publication.yaml explains every key the schema knows, the README names every
command, and `make help` lists every target."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import jsonschema
import yaml

from conftest import ROOT
from pipeline import schemadoc, scaffold

README = ROOT / "README.md"


def test_readme_reference_is_what_the_schema_generates():
    text = README.read_text("utf-8")
    section = schemadoc.section(text)
    assert section is not None, "README.md lost its generated publication.yaml reference"
    assert section == schemadoc.generate(), \
        "README.md is out of date with the schema: run python -m pipeline.schemadoc --write README.md"


def test_the_reference_lists_every_key_of_the_schema():
    def keys(node, prefix=""):
        for name, sub in (node.get("properties") or {}).items():
            yield prefix + name
            if "properties" in sub:
                yield from keys(sub, prefix + name + ".")
            if "properties" in sub.get("items", {}):
                yield from keys(sub["items"], prefix + name + "[].")

    generated = schemadoc.generate()
    listed = re.findall(r"^\| `([^`]+)` \|", generated, re.M)
    assert listed == list(keys(schemadoc.schema()))
    for row in generated.splitlines()[4:-4]:
        assert not row.endswith("|  |"), f"a key without a description in the schema: {row}"


def test_schemadoc_check_fails_on_a_stale_readme(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text("utf-8").replace("Name as printed.", "Name, as printed once."), "utf-8")
    assert schemadoc.main(["--check", str(stale)]) == 1
    assert schemadoc.main(["--write", str(stale)]) == 0
    assert schemadoc.main(["--check", str(stale)]) == 0
    assert stale.read_text("utf-8") == README.read_text("utf-8")


# ------------------------------------------------------------- the scaffold

def _scaffold_yaml() -> str:
    return scaffold.render("my-report", today=dt.date(2026, 3, 1))["publication.yaml"].decode()


def _uncommented(text: str) -> str:
    """The scaffold with its optional keys switched on: every line "# key: ..."
    or "#   - item" loses its "# "; prose comments stay comments."""
    example = re.compile(r"^# (\s*(- )?[a-z_]+:( |$)|\s+- )")
    return "\n".join(line[2:] if example.match(line) else line for line in text.splitlines())


def test_scaffold_explains_every_key_of_the_schema():
    text = _scaffold_yaml()
    s = scaffold.schema()

    def walk(node, prefix=""):
        for name, sub in (node.get("properties") or {}).items():
            yield prefix + name, name
            if "properties" in sub:
                yield from walk(sub, prefix + name + ".")
            if "properties" in sub.get("items", {}):
                yield from walk(sub["items"], prefix + name + "[].")

    for path, name in walk(s):
        assert re.search(rf"^#?\s*(- )?{name}:", text, re.M), f"the scaffold does not show '{path}'"
        explained = scaffold.describe(s, path)
        first_words = " ".join(explained.split()[:4])
        assert first_words in " ".join(l.lstrip("# ").strip() for l in text.splitlines()), \
            f"the scaffold does not explain '{path}'"


def test_scaffold_is_valid_as_written_and_with_every_optional_key_on():
    validator = jsonschema.Draft202012Validator(scaffold.schema(), format_checker=jsonschema.FormatChecker())
    text = _scaffold_yaml()
    as_written = yaml.safe_load(text)
    assert list(validator.iter_errors(as_written)) == []
    switched_on = yaml.safe_load(_uncommented(text))
    assert list(validator.iter_errors(switched_on)) == []
    assert set(switched_on) == set(scaffold.schema()["properties"])  # every top-level key appears
    assert as_written["edition"]["date"] == "2026-03-01" and as_written["title"] == "My Report"


# ------------------------------------------------------ README and Makefile

def test_readme_names_every_command():
    from pipeline.cli import parser

    text = README.read_text("utf-8")
    sub = next(a for a in parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert f"`pipeline {name}" in text, f"README.md does not describe `pipeline {name}`"


def test_readme_starts_with_what_and_how_to_set_up():
    text = README.read_text("utf-8")
    setup = text.index("## Set up")
    assert text.index("PDF") < setup and text.index("EPUB") < setup
    block = text[setup:text.index("## ", setup + 3)]
    assert re.search(r"^make\s", block, re.M) and re.search(r"^make test\b", block, re.M)
    for image in re.findall(r'src="(docs/images/[^"]+)"', text):
        assert (ROOT / image).is_file(), image


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):(?!=)", makefile, re.M))
    helped = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    listed = set(re.findall(r"^\s+make (\S+)", helped, re.M))
    assert targets and targets == listed, f"targets without a '## ' comment: {targets - listed}"
    for target in ("all", "test", "preview", "watch", "clean"):
        assert target in listed
