"""``pipeline new SLUG``: a new publication folder that builds and checks
clean straight away.

The files come from ``pipeline/scaffold/``: ``*.j2`` files are Jinja
templates, the rest are copied as they are. ``publication.yaml`` explains
every key with the description the schema gives it, so the comments cannot
say something the validator does not.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import textwrap
from importlib import resources
from pathlib import Path

import jinja2
import yaml

from pipeline.errors import BuildError, Problem, SourceError

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 64
WIDTH = 78


def check_slug(text: str) -> str:
    """The slug, or ValueError saying what is wrong with it."""
    if not SLUG.match(text):
        raise ValueError(f"'{text}' is not a valid slug: use lower-case letters, digits and single hyphens "
                         f"(e.g. annual-report-2026); it names the folder and every output file")
    if len(text) > MAX_SLUG:
        raise ValueError(f"'{text}' is {len(text)} characters long; keep a slug under {MAX_SLUG + 1}")
    from pipeline.outputs import reserved

    why = reserved(text)
    if why:
        raise ValueError(f"'{text}' cannot be a slug: {why}; choose another (e.g. {text}-report)")
    return text


def title_of(slug: str) -> str:
    return " ".join(w.capitalize() for w in slug.split("-"))


# ------------------------------------------------------------ schema notes

def schema() -> dict:
    """pipeline/publication.schema.json, the rules publication.yaml follows."""
    return json.loads(resources.files("pipeline").joinpath("publication.schema.json").read_text("utf-8"))


def _node(schema: dict, path: str) -> tuple[dict, bool]:
    """The sub-schema at ``path`` (``a.b[].c``) and whether it is required."""
    node, required = schema, True
    for part in path.split("."):
        many = part.endswith("[]")
        name = part[:-2] if many else part
        required = name in node.get("required", [])
        node = node["properties"][name]
        if many:
            node = node["items"]
    return node, required


def describe(schema: dict, path: str) -> str:
    """One sentence or two about a key: its description and whether it is required."""
    node, required = _node(schema, path)
    key_node = node
    if path.endswith("[]"):  # describe the list, not its items
        key_node = _node(schema, path[:-2])[0]
    text = key_node.get("description", "").strip()
    need = "Required." if required else "" if text.lower().startswith("optional") else "Optional."
    return f"{text} {need}".strip()


def comment(schema: dict, path: str, indent: int = 0, commented: bool = False) -> str:
    """``describe()`` as YAML comment lines; the template indents the first."""
    prefix = ("# " if commented else "") + " " * indent
    lines = textwrap.wrap(describe(schema, path), WIDTH - len(prefix) - 2)
    return ("\n" + prefix).join("# " + line for line in lines)


# ---------------------------------------------------------------- scaffold

LANGUAGES = "languages"  # pipeline/scaffold/languages/: samples.yaml and a folder of Markdown per language


def sample_language(language: str) -> str:
    """The entry of languages/samples.yaml a BCP 47 tag takes its sample
    from: the tag itself, zh-Hans for zh, zh-CN and zh-SG, else en."""
    from pipeline.fonts import is_chinese

    known = {k.lower(): k for k in samples()}
    tag = language.lower()
    if tag in known:
        return known[tag]
    if is_chinese(language) and "zh-hans" in known:
        return known["zh-hans"]
    return known.get(tag.split("-")[0], "en")


def samples() -> dict[str, dict]:
    root = resources.files("pipeline").joinpath("scaffold", LANGUAGES)
    return yaml.safe_load(root.joinpath("samples.yaml").read_text("utf-8"))


def files(language: str = "en") -> dict[str, str | bytes]:
    """Scaffold file name (relative, '.j2' removed) -> template text or
    bytes; a language's own files (languages/TAG/) replace the English ones."""
    out: dict[str, str | bytes] = {}
    root = resources.files("pipeline").joinpath("scaffold")

    def walk(node, prefix=""):
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                if not (prefix == "" and child.name == LANGUAGES):
                    walk(child, prefix + child.name + "/")
            elif child.name.endswith(".j2"):
                out[prefix + child.name[:-3]] = child.read_text("utf-8")
            elif not child.name.startswith("."):
                out[prefix + child.name] = child.read_bytes()

    walk(root)
    own = root.joinpath(LANGUAGES, sample_language(language))
    if own.is_dir():
        walk(own)
    return out


def _default_formats() -> list[str]:
    from pipeline import formats

    return list(formats.default())


def render(slug: str, sources: str = "sources", today: dt.date | None = None,
           language: str = "en") -> dict[str, bytes]:
    """Every file of a new publication, by relative path."""
    today = today or dt.date.today()
    # Markdown's {#id} is not a Jinja comment here
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                             comment_start_string="{##", comment_end_string="##}")
    context = dict(slug=slug, title=title_of(slug), sources=sources.rstrip("/"), date=today.isoformat(),
                   year=today.year, language=language, sample=samples()[sample_language(language)],
                   about=lambda path, indent=0, commented=False: comment(schema(), path, indent, commented),
                   formats=_default_formats())
    out = {}
    for name, content in files(language).items():
        if isinstance(content, str):
            out[name] = env.from_string(content).render(**context).encode("utf-8")
        else:
            out[name] = content
    return out


def new(slug: str, sources: Path | str = "sources", today: dt.date | None = None, language: str = "en") -> Path:
    """Create ``sources/SLUG/``; refuse if it exists (SourceError)."""
    check_slug(slug)
    sources = Path(sources)
    folder = sources / slug
    if folder.exists() or folder.is_symlink():
        raise SourceError(Problem(folder, "this folder already exists; nothing was written",
                                  "choose another slug, or move the existing folder away first"))
    content = render(slug, str(sources), today, language)
    sources.mkdir(parents=True, exist_ok=True)
    staging = sources / f".{slug}.new"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, data in content.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        os.rename(staging, folder)  # the folder appears whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def find_publication(given: Path | None, sources: Path | str = "sources") -> Path:
    """The publication a command means when SOURCE_DIR is optional: the one
    given, else the current folder if it holds publication.yaml, else the
    only publication under ``sources/``."""
    if given is not None:
        return Path(given)
    if Path("publication.yaml").is_file():
        return Path(".")
    sources = Path(sources)
    found = sorted(p.parent for p in sources.glob("*/publication.yaml"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise BuildError("no publication here: the current folder has no publication.yaml and sources/ holds none\n"
                         "  hint: give the publication's folder (e.g. sources/my-report), or make one with "
                         "`pipeline new SLUG`")
    names = ", ".join(str(p) for p in found)
    raise BuildError(f"there are {len(found)} publications ({names}); which one?\n"
                     f"  hint: name its folder, e.g. {found[0]}")
