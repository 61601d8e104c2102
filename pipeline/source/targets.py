"""Links, images and raw HTML in the parsed text: images must be files inside the folder, links
must lead to a section or the web, nothing may run or load; what a build can print sensibly is
changed, with one warning per kind and file.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urljoin

from pipeline import images, pandoc
from pipeline.errors import Problem
from pipeline.model import Chapter
from pipeline.source.decorate import furniture_words
from pipeline.source.files import _inside, _loops
from pipeline.source.limits import LIMITS
from pipeline.source.locate import _Finder
from pipeline.source.safety import _scheme_runs, _unsafe_attr, _without_empty, clean_html, raw_is_html, unsafe_html


_HAS_ATTR = {"Div": 0, "Span": 0, "Code": 0, "CodeBlock": 0, "Image": 0, "Link": 0, "Table": 0, "Figure": 0, "Header": 1}


def _attr(el: dict) -> list | None:
    """The (id, classes, key-values) of an element that has one."""
    i = _HAS_ATTR.get(el["t"])
    if i is None:
        return None
    attr = el["c"][i]
    return attr if isinstance(attr, list) and len(attr) == 3 and isinstance(attr[0], str) else None


def _check_targets(root: Path, chapters: list[Chapter], ids: dict, texts: dict[Path, str],
                   assets: dict[str, Path], problems: list[Problem],
                   renamed: dict[Path, dict[str, str]] | None = None, limits: dict | None = None,
                   warnings: list[Problem] | None = None, base: str | None = None,
                   words: dict | None = None) -> set[str]:
    """Images must be files inside the folder, never fetched from elsewhere;
    links must point at a section that exists or at the web; a link to
    another chapter's file (``other.md#section``) becomes a link to that
    section; raw HTML and attributes may not run or load anything. Fills
    ``assets`` (image target -> file) and returns every id in the
    document.

    What a build can print in a sensible way is changed, with a warning
    (once per file and kind, naming the first place): a link to a file
    that is not part of the publication is printed as its text (a reader
    of the PDF could not follow it), or becomes a web link under ``base``
    (publication.yaml's links.base); a remote image is printed as a link to
    it (a build never fetches anything); an image without a description
    gets its file name; the tags of elements HTML does not have are
    dropped, their content kept. The words the build writes in the text
    come from ``words`` (templates/words.yaml, the publication's language)."""
    all_ids = set(ids)
    renamed = renamed or {}
    limits = limits or LIMITS
    words = words or furniture_words("en")
    image_verdicts: dict[Path, list[tuple[str, str]]] = {}  # each file inspected once
    warnings = warnings if warnings is not None else []
    ids_in: dict[Path, set[str]] = {}

    for c in chapters:
        mine = ids_in.setdefault(c.source, set())

        def collect(el, mine=mine):
            attr = _attr(el)
            if attr and attr[0]:
                all_ids.add(attr[0])
                mine.add(attr[0])

        pandoc.walk(c.blocks, collect)
    by_file = {c.source: c for c in chapters}

    def chapter_link(c: Chapter, target: str) -> tuple[str | None, str | None]:
        """(#id, None) for a link to a file of the publication (and maybe a
        section in it), else (None, why not)."""
        name, _, frag = target.partition("#")
        try:
            path = _inside(root, str((c.source.parent / unquote(name)).relative_to(root))) if name else None
        except ValueError:  # an absolute path
            return None, None
        other = by_file.get(path) if path else None
        if other is None and path is not None and path.suffix.lower() in (".html", ".htm"):
            other = by_file.get(path.with_suffix(".md"))  # an mdBook link names the page made from x.md
        if other is None:
            return None, None
        if not frag:
            first = other.headings[0].id if other.headings else None
            return ("#" + first, None) if first else (None, f"{name} has no heading to link to")
        frag = unquote(frag)
        frag = renamed.get(other.source, {}).get(frag, frag)
        if frag in ids_in.get(other.source, ()):
            return "#" + frag, None
        return None, f"{name} has no section with the id '{frag}'"

    for c in chapters:
        finder = _Finder(texts[c.source])
        changed: dict[str, list] = {}  # kind -> [(line, column, what)], said once per file below
        relative = posixpath.dirname(c.source.relative_to(root).as_posix()) if c.source.is_relative_to(root) else ""

        def report(message, hint, *needles, c=c, finder=finder, raw=None, at=None):
            line, column = at or (finder.find_in(raw, needles[0][1]) if raw else finder.find(*needles))
            problems.append(Problem(c.source, message, hint, line=line, column=column))

        def change(kind, what, *needles, finder=finder, raw=None, changed=changed):
            line, column = finder.find_in(raw, needles[0][1]) if raw else finder.find(*needles)
            changed.setdefault(kind, []).append((line, column, what))

        def visit(el, c=c):
            t = el["t"]
            attr = _attr(el)
            if attr:
                for key, value in attr[2]:
                    why = _unsafe_attr(key, value)
                    if why:
                        shown = f"{key}={value!r}"
                        report(f"{why} ({shown[:60]})", "remove the attribute; the outputs must not run code or load anything",
                               ("", f"{key}="), ("", key))
            if t == "Figure" and _remote_figure(el):
                image = _remote_figure(el)
                change("remote", image["c"][2][0], ("](", image["c"][2][0]), ("<", image["c"][2][0]), ("", image["c"][2][0]))
                el["t"], el["c"] = "Para", [_link_to_image(image, words)]
                return
            if t == "Image":
                target = el["c"][2][0]
                # pandoc gives the target %-escaped where it holds blanks or
                # control characters; the source has it as written
                where = (("](", target), ("<", target), ("", target), ("](<", unquote(target)), ("", unquote(target)))
                no_alt = not pandoc.stringify(el["c"][1]).strip() and not dict(el["c"][0][2]).get("alt", "").strip()
                scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", target)
                if scheme and scheme.group(1).lower() == "file":
                    report(f"image '{target}' is a file: URL, which may point anywhere on this computer",
                           "copy the image into the publication folder and refer to it by a relative path", *where)
                elif ((scheme and scheme.group(1).lower() in ("http", "https") and target[scheme.end():].startswith("//"))
                      or target.startswith("//")):
                    change("remote", target, *where)
                    link = _link_to_image(el, words)
                    el["t"], el["c"] = link["t"], link["c"]
                elif (scheme and target[scheme.end():].startswith("//")):
                    report(f"remote image '{target}' is not allowed: a build never fetches anything from the network",
                           "download the image into the publication folder and refer to it by a relative path", *where)
                elif scheme and len(scheme.group(1)) > 1:
                    report(f"image '{target}' is not a file in the publication folder",
                           "save the image as a file in the publication folder and refer to it by a relative path", *where)
                else:
                    path = _inside(root, unquote(target))
                    if path is None:
                        report(f"image '{target}' is outside the publication folder",
                               "copy the image into the publication folder and refer to it by a relative path", *where)
                    elif _loops(root / unquote(target)):
                        report(f"image '{unquote(target)}' cannot be read: its path goes round a loop of symlinks",
                               "replace the symlink on its path by the folder or file it should name", *where)
                    elif not path.is_file():
                        report(f"image '{unquote(target)}' does not exist",
                               f"add {unquote(target)} to the publication folder or correct the path", *where)
                    else:
                        assets[target] = path
                        if path not in image_verdicts:
                            image_verdicts[path] = images.problems(path, unquote(target), limits["image_megapixels"])
                        at = finder.find(*where) if image_verdicts[path] else None  # the image's place, once
                        for message, hint in image_verdicts[path]:
                            report(message, hint, at=at)
                        if no_alt:
                            # the tagged PDF needs a description of every image: the file's name stands in
                            change("alt", target, *where)
                            stem = posixpath.splitext(posixpath.basename(unquote(target)))[0]
                            el["c"][1] = [{"t": "Str", "c": " ".join(stem.replace("-", " ").replace("_", " ").split())
                                           or words["image"]}]
            elif t == "Link":
                target = el["c"][2][0]
                # pandoc gives the target %-escaped where it holds blanks or
                # control characters; the source has it as written
                where = (("](", target), ("<", target), ("", target), ("](<", unquote(target)), ("", unquote(target)))
                if target.startswith("#"):
                    if target[1:] not in all_ids:
                        near = difflib.get_close_matches(target[1:], sorted(all_ids), n=1)
                        report(f"link to '{target}', but no section has the id '{target[1:]}'",
                               f"did you mean '#{near[0]}'?" if near else "give the section that id with {#id} after its heading",
                               *where)
                elif re.match(r"^(https?:|mailto:)", target, re.I):
                    host = re.match(r"^https?://([^/?#]*)", target, re.I)
                    if host and re.search(r"%|\s", host.group(1)):
                        # pandoc takes ](http://host /path) for a link to the host
                        # 'host%20', which no reader can follow and the
                        # validators refuse with lines of the outputs
                        written = unquote(target)
                        report(f"link to '{written[:60]}': a web address's host cannot hold a space",
                               "remove the space (or write it as %20 after the host, in the path)",
                               ("](", written), *where)
                elif _scheme_runs(target):
                    report(f"link to a {target.split(':')[0].strip().lower()}: URL, which would run code or load a page: {target[:60]!r}",
                           "remove the link; link to a section with [text](#section-id) or to a web page with https://", *where)
                else:
                    internal, why = (None, None) if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) else chapter_link(c, target)
                    if internal:
                        el["c"][2][0] = internal
                    elif why:
                        report(f"link to '{target}', but {why}",
                               "link to one of its sections with [text](file.md#section-id), or to the file alone", *where)
                    elif not target:  # [text](): no address at all, so the text alone
                        shown = pandoc.stringify(el["c"][1])
                        change("empty", shown[:40], ("[", shown + "]()"), ("", "]()"))
                        el["t"], el["c"] = "Span", [el["c"][0], el["c"][1]]
                    elif not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
                        # a file that is not part of the publication: its web address, or its text
                        change("outside", target, *where)
                        if base:
                            el["c"][2][0] = urljoin(base if base.endswith("/") else base + "/",
                                                    posixpath.join(relative, target) if relative else target)
                        else:
                            el["t"], el["c"] = "Span", [el["c"][0], el["c"][1]]
                    else:
                        frag = unquote(target.partition("#")[2])
                        hint = ("it is not one of the chapter files publication.yaml lists: list it there, or link to "
                                "its web address (https://...), or to a section with [text](#section-id)")
                        if frag and frag in all_ids:
                            hint = f"this publication has a section '#{frag}': link to it with [text](#{frag})"
                        report(f"link target '{target}' is not a file of this publication, a section (#id) or a web address",
                               hint, *where)
            elif t == "Cite" and any(ci["citationMode"]["t"] != "AuthorInText" for ci in el["c"][0]):
                written = pandoc.stringify(el["c"][1])
                report(f"the citation {written[:60]!r} needs a bibliography, which a publication does not have",
                       "write the reference out, e.g. (Doe 1999, p. 33), and list the works in a chapter of their own",
                       ("", written), ("", "[@"))
            elif t == "Str" and _TEX_COMMAND.match(el["c"]):
                report(f"raw TeX ({el['c'][:40]}) is not read: it would print as it is written",
                       "remove it, or write what it means in Markdown (a table, list or emphasis has a Markdown "
                       "form; \\newpage alone in its paragraph breaks the PDF's page)", ("", el["c"]))
            elif t in ("RawBlock", "RawInline"):
                fmt, raw = el["c"]
                # pandoc's HTML-family writers copy raw content for these formats
                # into the outputs verbatim; any other format is dropped (_decorate)
                if raw_is_html(fmt) or fmt.lower().startswith(("html", "epub")):
                    for why, needle in unsafe_html(raw):
                        report(f"raw HTML that could run or load something: {why}",
                               "remove it; the outputs carry text and Markdown images only, nothing that runs or loads",
                               ("", needle), raw=raw)
                    cleaned, unknown = clean_html(raw)
                    el["c"][1] = cleaned
                    for tag in unknown:
                        change("element", tag, ("", f"<{tag}"), ("", f"</{tag}"), raw=raw)

        pandoc.walk(c.blocks, visit)
        if "element" in changed:
            c.blocks = _without_empty(c.blocks)
        _say_changes(c.source, changed, base, warnings)
    return all_ids


def _say_changes(path: Path, changed: dict[str, list], base: str | None, warnings: list[Problem]) -> None:
    """One warning per kind of change made in a file, at its first place."""
    def warn(kind, message, hint):
        line, column, _ = changed[kind][0]
        warnings.append(Problem(path, message, hint, line=line, column=column, severity="warning"))

    def count(kind, one, many):
        n = len(changed[kind])
        return f"{n} {one if n == 1 else many}"

    def first(kind):
        return f"{'first: ' if len(changed[kind]) > 1 else ''}{changed[kind][0][2][:80]}"

    if "outside" in changed:
        if base:
            warn("outside", f"{count('outside', 'link', 'links')} to files outside the publication made web links under "
                            f"{base} ({first('outside')})", "links.base in publication.yaml sets the address")
        else:
            warn("outside", f"{count('outside', 'link', 'links')} to files outside the publication shown as text "
                            f"({first('outside')})", "set links.base in publication.yaml to make them web links, or link "
                                                     "to the files' web addresses (https://...)")
    if "empty" in changed:
        warn("empty", f"{count('empty', 'link', 'links')} with no address, [text](), shown as text "
                      f"({first('empty')})", "give the link its address, or write the text without [ ]()")
    if "remote" in changed:
        for line, column, target in changed["remote"]:
            warnings.append(Problem(path, f"remote image '{target[:80]}' shown as a link to it: a build never fetches "
                                          "anything from the network", "download the image into the publication folder "
                                          "and refer to it by a relative path", line=line, column=column,
                                    severity="warning"))
    if "alt" in changed:
        warn("alt", f"{count('alt', 'image has', 'images have')} no description, so the file name stands in "
                    f"({first('alt')})", "write what each shows between the brackets, ![A chart of the yearly totals.]"
                                         "(figures/chart.png), or alt=\"...\" in <img>")
    if "element" in changed:
        tags = ", ".join(f"<{t}>" for t in dict.fromkeys(w for _, _, w in changed["element"]))
        warn("element", f"tags of elements HTML does not have were dropped, their content kept: {tags}",
             "write it in Markdown instead (a fenced div `::: name` ... `:::` for a block, [text]{.name} for a phrase)")


def _remote_figure(fig: dict) -> dict | None:
    """The image of a figure that is one remote image, else None."""
    body = fig["c"][2]
    if len(body) == 1 and body[0]["t"] in ("Plain", "Para") and len(body[0]["c"]) == 1:
        image = body[0]["c"][0]
        if image["t"] == "Image" and re.match(r"^(https?:)?//", image["c"][2][0], re.I):
            return image
    return None


def _inlines(text: str) -> list[dict]:
    """Plain text as pandoc's inlines: words (Str) and the spaces between them."""
    out: list[dict] = []
    for i, word in enumerate(text.split(" ")):
        out += [{"t": "Space"}] * bool(i) + [{"t": "Str", "c": word}] * bool(word)
    return out


def _link_to_image(image: dict, words: dict) -> dict:
    """A link to a remote image, its description as the link's text (else
    ``remote_image`` of the furniture ``words``: image at example.org)."""
    target = image["c"][2][0]
    host = re.match(r"^(?:https?:)?//([^/?#]+)", target, re.I)
    text = image["c"][1] if pandoc.stringify(image["c"][1]).strip() else _inlines(
        words["remote_image"].format(host=host[1]) if host else words["remote_image_no_host"])
    url = ("https:" + target) if target.startswith("//") else target
    return {"t": "Link", "c": [[image["c"][0][0], image["c"][0][1], []], text, [url, ""]]}


#: A TeX command at the start of a word, as pandoc leaves it with raw_tex off
_TEX_COMMAND = re.compile(r"^\\(?:[A-Za-z]{2,}|\[|\(|begin|end)(?:\{|\[|$)")
