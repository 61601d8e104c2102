"""``pipeline publish``: the released editions, put where readers get them.

Only archived editions are published (``pipeline release`` made them;
an unreleased build in ``dist/<slug>/`` never is), to a destination that
``publish.yaml`` at the repository's root names. Every destination gets the
same site::

    index.html                          every publication
    feed.xml                            Atom: one entry per edition
    <slug>/index.html                   the publication's landing page
    <slug>/CITATION.cff                 how to cite it (the latest edition), Citation File Format 1.2.0
    <slug>/<slug>.pdf                   the latest edition's PDF, at a stable address
    <slug>/latest/                      the latest edition's files
    <slug>/<version>/<files>            each edition: its files, manifest.json, SHA256SUMS

An edition on the site is never changed: a file that is there with other
bytes stops the publish before anything is written (``Conflict``, exit
status 2); one with the same bytes is skipped, so publishing again changes
nothing. The order is the readers' safety: an edition's files first, then
``latest`` and the stable link, the pages and the feed last, so no page
ever links to a file that is not there yet; every file is written whole
before it takes its name, so a publish that is stopped (killed, a full disk)
leaves the site as consistent as it was, and the next one completes it.

Pages are rendered from ``templates/site/`` (presentation) with what this
module gathers from the manifests and the archived ``publication.yaml``
(logic); they are self-contained: styles inline, the cover as a data: URI.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.editions import (DEFAULT_ARCHIVE, LEDGER, MANIFEST, Edition, editions, human_size, read_ledger,
                               sha256_file, version_key)
from pipeline.errors import DISK_FULL_ERRNOS, BuildError, DiskFull, Problem, SourceError, mount_point

CONFIG = "publish.yaml"
DEFAULT_DESTINATION = "site"
SUMS = "SHA256SUMS"
SIGNATURE = ".minisig"
PUBLIC_KEY = "minisign.pub"
FEED = "feed.xml"
CITATION = "CITATION.cff"
INDEX = "index.html"
LATEST = "latest"
_TEMP = ".publish-"
_LOCK = ".publish.lock"

#: Cache lifetimes: an edition never changes; the pages, latest/ and the
#: stable link change with each new edition.
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_MUTABLE = "public, max-age=300"

CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".gz": "application/gzip",
    ".xml": "application/atom+xml; charset=utf-8",
    ".png": "image/png",
    ".minisig": "text/plain; charset=utf-8",
    ".pub": "text/plain; charset=utf-8",
}


def content_type(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name in (SUMS, CITATION):  # CITATION.cff is YAML; as text a browser shows it instead of saving it
        return "text/plain; charset=utf-8"
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


# ------------------------------------------------------------------ configuration

@dataclass
class Destination:
    name: str
    type: str  # folder | s3
    path: Path | None = None  # folder
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    retention_days: int | None = None
    retention_mode: str = "governance"


@dataclass
class Config:
    file: Path | None  # None: no publish.yaml, the defaults
    title: str = "Publications"
    url: str | None = None
    default: str = DEFAULT_DESTINATION
    destinations: dict[str, Destination] = field(default_factory=dict)
    signing_key: Path | None = None

    def destination(self, name: str | None) -> Destination:
        name = name or self.default
        if name not in self.destinations:
            known = ", ".join(sorted(self.destinations)) or "none"
            where = self.file if self.file else f"{CONFIG} (there is none; the default is the folder site/)"
            raise BuildError(f"no destination '{name}' in {where}; destinations: {known}\n"
                             f"  hint: add it under 'destinations:' in {CONFIG}, or choose one of these with --to")
        return self.destinations[name]


#: keys that would put a secret into a file that is committed
_SECRET_KEYS = ("key", "secret", "password", "token", "credential", "session")


def _schema() -> dict:
    return json.loads(resources.files("pipeline").joinpath("publish.schema.json").read_text("utf-8"))


def load_config(file: Path | str | None = None) -> Config:
    """``publish.yaml`` (default: in the current folder), checked against
    ``pipeline/publish.schema.json``; each problem with its line. Without
    the file: one destination, the folder ``site/``."""
    from pipeline import source

    explicit = file is not None
    file = Path(file) if file is not None else Path(CONFIG)
    if not file.is_file():
        if explicit:
            raise SourceError(Problem(file, "file not found", f"create it (its keys are in the README, under {CONFIG}), "
                                                              "or leave out --config to publish to site/"))
        return Config(None, destinations={DEFAULT_DESTINATION: Destination(DEFAULT_DESTINATION, "folder", Path("site"))})
    problems: list[Problem] = []
    doc = source._read_yaml(file, problems)
    if doc is None:
        raise SourceError(problems)
    if not isinstance(doc.data, dict):
        raise SourceError(Problem(file, f"{CONFIG} must be a mapping of keys (title, url, default, destinations)",
                                  "start from the publish.yaml at the repository's root", line=1))
    # a secret is refused before anything else, and never repeated in a message
    for path, (line, column) in sorted(doc.keys.items(), key=lambda kv: kv[1]):
        name = str(path[-1]).lower()
        if len(path) == 3 and path[0] == "destinations" and any(s in name for s in _SECRET_KEYS):
            problems.append(Problem(file, f"'{path[-1]}' looks like a credential; credentials never go in {CONFIG}",
                                    "remove the line; the s3 destination takes its credentials from the environment "
                                    "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or ~/.aws/credentials",
                                    line=line, column=column))
    if problems:
        raise SourceError(problems)
    problems += source._schema_problems(file, doc, _schema())
    if problems:
        raise SourceError(problems)
    data = doc.data
    folder_only, s3_only = ("path",), ("bucket", "prefix", "endpoint_url", "region", "retention_days", "retention_mode")
    for name, d in (data.get("destinations") or {}).items():
        if not isinstance(d, dict) or d.get("type") not in ("folder", "s3"):
            continue
        wrong = s3_only if d["type"] == "folder" else folder_only
        for key in wrong:
            if key in d:
                line, column = doc.pos(("destinations", name, key))
                problems.append(Problem(file, f"'{key}' does not apply to a destination of type {d['type']} "
                                              f"(destinations.{name})",
                                        f"remove it; a {d['type']} destination takes "
                                        f"{', '.join(folder_only if d['type'] == 'folder' else s3_only)}",
                                        line=line, column=column))
    if problems:
        raise SourceError(problems)
    dests = {}
    for name, d in (data.get("destinations") or {}).items():
        if d["type"] == "folder":
            path = Path(d.get("path", "site"))
            dests[name] = Destination(name, "folder", path if path.is_absolute() else file.parent / path)
        else:
            dests[name] = Destination(name, "s3", bucket=d["bucket"], prefix=d.get("prefix", ""),
                                      endpoint_url=d.get("endpoint_url"), region=d.get("region"),
                                      retention_days=d.get("retention_days"),
                                      retention_mode=d.get("retention_mode", "governance"))
    if not dests:
        dests[DEFAULT_DESTINATION] = Destination(DEFAULT_DESTINATION, "folder", file.parent / "site")
    default = data.get("default") or (next(iter(dests)) if len(dests) == 1 else DEFAULT_DESTINATION)
    if default not in dests:
        line, column = doc.pos(("default",), key=False)
        raise SourceError(Problem(file, f"'default' names the destination '{default}', which is not under "
                                        f"'destinations'", f"destinations: {', '.join(sorted(dests))}",
                                  line=line, column=column))
    url = data.get("url")
    if url and not url.endswith("/"):
        url += "/"
    key = data.get("signing_key")
    key = Path(key).expanduser() if key else None
    if key is not None and not key.is_absolute():
        key = file.parent / key
    return Config(file, title=data.get("title", "Publications"), url=url, default=default, destinations=dests,
                  signing_key=key)


# ------------------------------------------------------------------ what is published

@dataclass
class SiteFile:
    key: str  # its path in the site, e.g. sample-report/1.1.0/sample-report-1.1.0.pdf
    sha256: str
    size: int
    source: Path | None = None  # read from here (an archived file) ...
    data: bytes | None = None  # ... or these bytes (generated)
    immutable: bool = False  # part of an edition: never changed once published
    download: str | None = None  # the file name a browser saves it under

    @property
    def content_type(self) -> str:
        return content_type(self.key)

    @property
    def cache_control(self) -> str:
        return CACHE_IMMUTABLE if self.immutable else CACHE_MUTABLE

    def bytes(self) -> bytes:
        return self.data if self.data is not None else self.source.read_bytes()

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.source, "rb")


def generated(key: str, data: bytes | str, immutable: bool = False, download: str | None = None) -> SiteFile:
    data = data.encode("utf-8") if isinstance(data, str) else data
    return SiteFile(key, hashlib.sha256(data).hexdigest(), len(data), data=data, immutable=immutable,
                    download=download)


def sums_text(files: list[tuple[str, str]]) -> str:
    """``sha256sum``'s format: ``<sha256>  <name>``, sorted by name, so
    ``sha256sum -c SHA256SUMS`` checks a downloaded edition."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(files))


def edition_files(ed: Edition, ledger: dict[str, str], signer=None) -> list[SiteFile]:
    """An archived edition's files as the site holds them, after checking
    each against its manifest (and the manifest against the ledger): a
    damaged archive is never published."""
    prefix = f"{ed.slug}/{ed.version}/"
    out = []
    manifest = ed.folder / MANIFEST
    digest = sha256_file(manifest)
    recorded = ledger.get(f"{ed.slug}/{ed.version}/{MANIFEST}")
    if recorded != digest:
        raise BuildError(f"{manifest} does not match the digest the archive's {LEDGER} recorded when it was released; "
                         f"nothing was published\n  hint: run `pipeline editions verify` and release again")
    for f in ed.files:
        path = ed.folder / f.name
        if path.is_symlink() or not path.is_file() or path.stat().st_size != f.size or sha256_file(path) != f.sha256:
            raise BuildError(f"{path} is missing or does not match its manifest; nothing was published\n"
                             f"  hint: run `pipeline editions verify` to see what is wrong with the archive")
        out.append(SiteFile(prefix + f.name, f.sha256, f.size, source=path, immutable=True, download=f.name))
    out.append(SiteFile(prefix + MANIFEST, digest, manifest.stat().st_size, source=manifest, immutable=True,
                        download=MANIFEST))
    sums = sums_text([(f.name, f.sha256) for f in ed.files] + [(MANIFEST, digest)])
    out.append(generated(prefix + SUMS, sums, immutable=True, download=SUMS))
    if signer is not None:
        comment = f"timestamp:{_epoch(ed.manifest.get('released'))}\tfile:{SUMS}\tedition:{ed.slug} {ed.version}"
        out.append(generated(prefix + SUMS + SIGNATURE, signer.sign(sums.encode("utf-8"), comment), immutable=True,
                             download=SUMS + SIGNATURE))
    return out


def _epoch(stamp: str | None) -> int:
    try:
        return int(dt.datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp())
    except ValueError:
        return 0


def archived_yaml(ed: Edition) -> dict:
    """The publication.yaml the edition was built from, read from its
    source archive (only that member, and no more than its listed size)."""
    import yaml

    from pipeline.source import _Loader

    src = ed.file("source")
    sizes = {f["path"]: f["size"] for f in ed.manifest.get("source", {}).get("files", [])}
    limit = sizes.get("publication.yaml", 0)
    try:
        with tarfile.open(ed.folder / src.name, "r:gz") as tar:
            for m in tar:
                if m.name == f"{ed.slug}/publication.yaml" and m.isfile() and m.size <= limit:
                    data = yaml.load(tar.extractfile(m).read().decode("utf-8"), Loader=_Loader)
                    return data if isinstance(data, dict) else {}
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BuildError(f"{ed.folder / src.name} cannot be read: {exc}\n"
                         f"  hint: run `pipeline editions verify`") from None
    raise BuildError(f"{ed.folder / src.name} holds no publication.yaml; run `pipeline editions verify`")


COVER_WIDTH = 360  # pixels: the cover on a landing page


def lead_facts(path: Path, width: int = COVER_WIDTH) -> tuple[int | None, str]:
    """(page count, a PNG of the first page as a data: URI, or "") of the
    lead format's file at ``path``."""
    from pipeline import formats

    lead = formats.lead()
    cover = lead.cover(path, width)
    return lead.pages(path), ("data:image/png;base64," + base64.b64encode(cover).decode("ascii") if cover else "")


#: What the landing page calls the files of an edition that are not a
#: format's; a format's file is called by its ``Format.file_label``, else
#: its ``label`` (pipeline.formats). The site leads with the format that is
#: distributed (``formats.lead()``, the PDF): its cover, its page count, a
#: stable address.
ROLE_LABELS = {"source": "Source", "check": "Check report"}


def _lead():
    from pipeline import formats

    return formats.lead()


def _label(role: str) -> str:
    from pipeline import formats

    if role in ROLE_LABELS:
        return ROLE_LABELS[role]
    if role in formats.REGISTRY:
        return formats.get(role).file_label or formats.get(role).label
    return role


def _listed_roles() -> list[str]:
    """The files a landing page lists for an edition: every format's, in
    the registry's order, then the source."""
    from pipeline.editions import roles_in_order

    return [r for r in roles_in_order() if r != "check"]


def _file_row(ed: Edition, role: str, base: str) -> dict | None:
    f = ed.file(role)
    if f is None:
        return None
    return {"role": role, "label": _label(role), "name": f.name, "href": f"{base}{ed.version}/{f.name}",
            "size": f.size, "size_text": human_size(f.size), "sha256": f.sha256}


def _authors(meta: dict) -> list[dict]:
    return [{"name": a.get("name", ""), "affiliation": a.get("affiliation", ""),
             "organisation": a.get("organisation", ""), "family_names": a.get("family_names", ""),
             "given_names": a.get("given_names", "")} for a in meta.get("authors") or [] if isinstance(a, dict)]


def publication_page_data(eds: list[Edition], signed: set[tuple[str, str]] | None = None,
                          site_url: str | None = None) -> dict:
    """What a landing page shows, from the publication's editions on the
    site (oldest first): the latest's metadata, cover and files, every
    earlier edition with its date and its note from edition.history."""
    signed = signed or set()
    eds = sorted(eds, key=lambda e: version_key(e.version))
    latest = eds[-1]
    meta = archived_yaml(latest)
    notes = {str(h.get("version")): h.get("note", "") for h in (meta.get("edition") or {}).get("history") or []
             if isinstance(h, dict)}
    lead = _lead()
    pages, cover = lead_facts(latest.folder / latest.file(lead.name).name)

    def edition(ed: Edition) -> dict:
        return {"version": ed.version, "date": ed.manifest["edition_date"], "released": ed.manifest.get("released", ""),
                "note": notes.get(ed.version, ""), "sums_href": f"{ed.version}/{SUMS}",
                "signature_href": f"{ed.version}/{SUMS}{SIGNATURE}" if (ed.slug, ed.version) in signed else "",
                "manifest_href": f"{ed.version}/{MANIFEST}",
                "files": [r for r in (_file_row(ed, role, "") for role in _listed_roles()) if r]}

    current = edition(latest)
    current["lead"] = {**_file_row(latest, lead.name, ""), "pages": pages}
    current["others"] = [r for r in (_file_row(latest, role, "") for role in _listed_roles() if role != lead.name) if r]
    page = {
        "slug": latest.slug,
        "title": meta.get("title") or latest.manifest.get("title", latest.slug),
        "subtitle": meta.get("subtitle", ""),
        "language": meta.get("language", "en"),
        "description": meta.get("description", ""),
        "rights": meta.get("rights", ""),
        "keywords": meta.get("keywords") or [],
        "identifier": latest.manifest.get("identifier", ""),
        "authors": _authors(meta),
        "cover": cover,
        "latest": current,
        "earlier": [edition(e) for e in reversed(eds[:-1])],
        "lead": {"label": lead.label, "type": lead.media_type.split(";")[0]},
        "stable": lead.output_name(latest.slug),
        "public_key_href": f"../{PUBLIC_KEY}" if any(slug == latest.slug for slug, _ in signed) else "",
    }
    page["citation"] = citation_data(page, latest, f"{site_url}{latest.slug}/" if site_url else "")
    page["cff"] = cff_text(page, f"{site_url}{latest.slug}/" if site_url else "")
    page["cff_href"] = CITATION
    return page


def citation_data(page: dict, latest: Edition, base: str) -> dict:
    """What reference managers and search engines read from a landing
    page: Highwire Press ``citation_*`` meta tags (Google Scholar, Zotero)
    and schema.org JSON-LD. Addresses are absolute when publish.yaml gives
    the site's url, relative to the page otherwise."""
    authors = page["authors"]
    institutions = [a["organisation"] or a["affiliation"] for a in authors]
    lead = page["latest"]["lead"]
    meta = [("citation_title", page["title"])]
    for a, inst in zip(authors, institutions):
        meta.append(("citation_author", a["name"]))
        if inst:
            meta.append(("citation_author_institution", inst))
    meta += [("citation_publication_date", page["latest"]["date"].replace("-", "/")),
             ("citation_language", page["language"])]
    if institutions and institutions[0]:
        meta.append(("citation_technical_report_institution", institutions[0]))
    if page["keywords"]:
        meta.append(("citation_keywords", "; ".join(str(k) for k in page["keywords"])))
    if base:
        if page["lead"]["type"] == "application/pdf":
            meta.append(("citation_pdf_url", base + lead["href"]))
        meta.append(("citation_abstract_html_url", base + INDEX))

    def person(a, inst):
        p = {"@type": "Person", "name": a["name"]}
        if inst:
            p["affiliation"] = {"@type": "Organization", "name": inst}
        return p

    encodings = [{"@type": "MediaObject", "name": f["name"], "contentUrl": base + f["href"],
                  "encodingFormat": content_type(f["name"]).split(";")[0], "contentSize": str(f["size"]),
                  "sha256": f["sha256"]} for f in [lead, *page["latest"]["others"]] if f["role"] != "source"]
    ld = {"@context": "https://schema.org", "@type": "Report", "name": page["title"],
          **({"alternativeHeadline": page["subtitle"]} if page["subtitle"] else {}),
          "author": [person(a, i) for a, i in zip(authors, institutions)],
          "datePublished": page["latest"]["date"], "version": page["latest"]["version"],
          "inLanguage": page["language"],
          **({"description": page["description"]} if page["description"] else {}),
          **({"keywords": [str(k) for k in page["keywords"]]} if page["keywords"] else {}),
          **({"copyrightNotice": page["rights"]} if page["rights"] else {}),
          **({"identifier": page["identifier"]} if page["identifier"] else {}),
          **({"url": base + INDEX} if base else {}),
          "encoding": encodings}
    # inside <script>: nothing in the data may close the element
    text = json.dumps(ld, ensure_ascii=False, indent=1, sort_keys=False).replace("</", "<\\/")
    return {"meta": meta, "json_ld": text}


#: Licences a ``rights`` statement may name, as their SPDX identifiers (the
#: only form CITATION.cff's ``license`` takes): a statement that is one of
#: these, written with spaces or hyphens (``CC BY 4.0``), becomes ``license``.
_SPDX_LICENCES = ("CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0",
                  "CC-BY-3.0", "CC-BY-SA-3.0", "CC0-1.0", "ODC-By-1.0", "OGL-UK-3.0", "MIT", "Apache-2.0")


def spdx_licence(rights: str) -> str | None:
    """The SPDX identifier a rights statement is, or None (a statement such
    as "© 2026 Example Institute" names no licence)."""
    norm = "-".join(str(rights or "").replace("-", " ").split()).casefold()
    return next((spdx for spdx in _SPDX_LICENCES if spdx.casefold() == norm), None)


def cff_text(page: dict, base: str) -> str:
    """CITATION.cff (Citation File Format 1.2.0) for the latest edition.
    The format's root ``type`` is only ``software`` or ``dataset``: the root
    describes the published files (a dataset), and ``preferred-citation``,
    which citation tools use in its place, is the report itself. An author
    with ``family_names`` in publication.yaml is a person (family and given
    names, affiliation); one without is written with ``name`` as printed,
    CFF's form for an organisation: splitting a name into given and family
    names would be a guess (wrong for "Kang Bingjian"). The first author's
    organisation is the report's ``institution``.
    Deterministic: the same page data gives the same bytes."""
    import yaml

    latest = page["latest"]
    authors = []
    for a in page["authors"]:
        if a.get("family_names"):  # a person: CFF's person form, with the affiliation
            entry = {"family-names": str(a["family_names"])}
            if a.get("given_names"):
                entry["given-names"] = str(a["given_names"])
            inst = ", ".join(x for x in (a["affiliation"], a["organisation"]) if x)
            if inst:
                entry["affiliation"] = inst
        else:  # the name as printed: CFF's entity form (``name``, which takes no affiliation)
            entry = {"name": a["name"]}
        authors.append(entry)
    title = page["title"] + (f": {page['subtitle']}" if page["subtitle"] else "")
    common = {"title": title, "authors": authors}
    if page["description"]:
        common["abstract"] = " ".join(str(page["description"]).split())
    if page["keywords"]:
        common["keywords"] = [str(k) for k in page["keywords"]]
    licence = spdx_licence(page["rights"])
    if licence:
        common["license"] = licence
    common["version"] = str(latest["version"])
    common["date-released"] = str(latest["date"])
    identifiers = []
    if base:
        common["url"] = base
        identifiers.append({"type": "url", "value": base + latest["lead"]["href"],
                            "description": f"The {page['lead']['label']} of edition {latest['version']}"})
    if page["identifier"]:
        identifiers.append({"type": "other", "value": str(page["identifier"]),
                            "description": "The publication's identifier"})
    if identifiers:
        common["identifiers"] = identifiers
    doc = {"cff-version": "1.2.0",
           "message": "If you cite this report, please cite it using these metadata.",
           "type": "dataset", **common}
    preferred = {"type": "report", **common}
    preferred.pop("date-released")
    preferred["date-published"] = str(latest["date"])
    preferred["year"] = int(str(latest["date"])[:4])
    institutions = [a["organisation"] or a["affiliation"] for a in page["authors"]]
    if institutions and institutions[0]:
        preferred["institution"] = {"name": institutions[0]}
    language = str(page["language"]).split("-")[0].lower()
    if 2 <= len(language) <= 3 and language.isascii() and language.isalpha():
        preferred["languages"] = [language]
    doc["preferred-citation"] = preferred
    class _Dumper(yaml.SafeDumper):  # the same lists twice, written out twice: no &anchors for a reader to follow
        def ignore_aliases(self, data):
            return True

    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return "# Written by `pipeline publish`: https://citation-file-format.github.io\n" + text


def _entry_id(ed: Edition) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ed.manifest.get('identifier') or ed.slug}#{ed.version}"))


def feed_data(config: Config, pubs: dict[str, list[Edition]], titles: dict[str, dict]) -> dict:
    """The Atom feed: one entry per edition on the site, newest first."""
    base = config.url or ""
    entries = []
    lead = _lead()
    for slug, eds in pubs.items():
        page = titles[slug]
        for ed in eds:
            file = ed.file(lead.name)
            note = next((e["note"] for e in [page["latest"], *page["earlier"]] if e["version"] == ed.version), "")
            entries.append({
                "id": _entry_id(ed),
                "title": f"{page['title']}, edition {ed.version}",
                "updated": ed.manifest.get("released") or f"{ed.manifest['edition_date']}T00:00:00Z",
                "published": f"{ed.manifest['edition_date']}T00:00:00Z",
                "link": f"{base}{slug}/{INDEX}#v{ed.version}",
                "enclosure": f"{base}{slug}/{ed.version}/{file.name}" if file else None,
                "enclosure_size": file.size if file else 0,
                "enclosure_type": page["lead"]["type"],
                "summary": note or f"Edition {ed.version} of {page['title']}, dated {ed.manifest['edition_date']}.",
                "authors": [a["name"] for a in page["authors"]] or ["Unknown author"],
                "language": page["language"],
            })
    entries.sort(key=lambda e: (e["updated"], e["id"]), reverse=True)
    name = config.title
    return {"title": name, "id": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"pipeline-site:{config.url or name}")),
            "updated": entries[0]["updated"] if entries else "1970-01-01T00:00:00Z",
            "self": f"{base}{FEED}", "home": f"{base}{INDEX}", "entries": entries}


def render_pages(config: Config, pubs: dict[str, list[Edition]], design=None,
                 signed: set[tuple[str, str]] | None = None) -> list[SiteFile]:
    """Each publication's CITATION.cff, the landing pages (which link to
    it), the index page and the feed, in that order;
    ``signed``: the editions (slug, version) whose SHA256SUMS has its
    signature on the site."""
    from pipeline.render.common import Design

    design = design or Design()
    css = design.css("tokens.css", "site.css")
    pages = {slug: publication_page_data(eds, signed, config.url) for slug, eds in sorted(pubs.items())}
    out = [generated(f"{slug}/{CITATION}", page["cff"], download=CITATION) for slug, page in pages.items()]
    out += [generated(f"{slug}/{INDEX}", design.render("site/publication.html.j2", pub=page, css=css,
                                                        site_title=config.title, feed=f"../{FEED}"))
            for slug, page in pages.items()]
    out.append(generated(INDEX, design.render("site/index.html.j2", publications=list(pages.values()), css=css,
                                              site_title=config.title, feed=FEED)))
    out.append(generated(FEED, design.render("site/feed.xml.j2", feed=feed_data(config, pubs, pages))))
    return out


# ------------------------------------------------------------------ destinations

class Conflict(BuildError):
    """The destination holds a published file with other bytes."""


class FolderSite:
    """A static site in a folder. Each edition is assembled in a hidden
    folder beside its place and renamed into place whole; every other file
    is written under a temporary name and renamed over the old one;
    ``latest`` is a symbolic link, replaced in one rename."""

    kind = "folder"

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock: int | None = None

    def describe(self) -> str:
        return str(self.root)

    def address(self, key: str) -> str:
        return str(self.root / key)

    @contextlib.contextmanager
    def session(self, dry_run: bool = False):
        if dry_run:
            yield
            return
        with _disk_full(self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BuildError(f"another publish to {self.root} is running; wait for it to finish") from None
            self._clear_leftovers()
            with _disk_full(self.root):
                yield
        finally:
            os.close(fd)

    def _clear_leftovers(self) -> None:
        """What a publish that was killed left: hidden temporary folders and
        files, never linked from anything."""
        for folder in [self.root, *(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink())]:
            for entry in folder.iterdir():
                if entry.name.startswith(_TEMP):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)

    def existing(self, key: str) -> str | None:
        """The SHA-256 of what the site holds under ``key``, or None."""
        path = self.root / key
        if path.is_symlink() or not path.exists():
            return None if not path.is_symlink() else "symlink"
        if not path.is_file():
            return "not a file"
        return sha256_file(path)

    def put_edition(self, slug: str, version: str, files: list[SiteFile]) -> None:
        final = self.root / slug / version
        if final.exists() or final.is_symlink():
            for f in files:  # an edition folder that lacks some files (one made by an older publish)
                self.put(f)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f"{_TEMP}{version}-", dir=final.parent))
        try:
            for f in files:
                self._write(f, staged / f.key.rsplit("/", 1)[-1])
            os.chmod(staged, 0o755)
            os.rename(staged, final)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    def put_all(self, files: list[SiteFile]) -> None:
        """Write every file under a temporary name first, then rename them
        into place in their order, one right after the other: the pages
        link to one another, and the moments between renames are the only
        ones in which a link can lead nowhere."""
        staged = []
        try:
            for f in files:
                path = self.root / f.key
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=_TEMP, dir=path.parent)
                os.close(fd)
                staged.append((Path(tmp), path))
                self._write(f, Path(tmp))
            for tmp, path in staged:
                os.replace(tmp, path)
        finally:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)

    def put(self, f: SiteFile) -> None:
        path = self.root / f.key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TEMP, dir=path.parent)
        os.close(fd)
        try:
            self._write(f, Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _write(f: SiteFile, dest: Path) -> None:
        with f.open() as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(dest, 0o644)

    def set_latest(self, slug: str, version: str, files: list[SiteFile]) -> bool:
        """``<slug>/latest`` -> ``<version>``; False when it already was."""
        link = self.root / slug / LATEST
        if link.is_symlink() and os.readlink(link) == version:
            return False
        tmp = link.with_name(f"{_TEMP}{LATEST}-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(version, tmp)
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        os.replace(tmp, link)
        return True

    def list_keys(self) -> set[str]:
        """Every file of the site, as keys; hidden ones (a publish's
        temporary files) and the latest link's contents left out."""
        out = set()
        if not self.root.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith("."):
                    out.add((Path(dirpath) / name).relative_to(self.root).as_posix())
        return out

    def latest(self, slug: str) -> str | None:
        link = self.root / slug / LATEST
        return os.readlink(link) if link.is_symlink() else None

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


@contextlib.contextmanager
def _disk_full(folder: Path):
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        raise DiskFull(f"the disk that holds {folder} (mounted on {mount_point(folder)}) is full ({exc.strerror}); "
                       f"the site's pages still link only to files that are there\n"
                       f"  hint: free some space on that disk and publish again: it completes what this run began"
                       ) from None


def open_destination(dest: Destination):
    if dest.type == "folder":
        return FolderSite(dest.path)
    from pipeline.publish_s3 import S3Site

    return S3Site(dest)


# ------------------------------------------------------------------ publish

@dataclass
class Step:
    key: str
    action: str  # uploaded | skipped | would upload | updated | unchanged | ...
    size: int = 0


@dataclass
class Published:
    destination: str
    steps: list[Step] = field(default_factory=list)
    editions: list[tuple[str, str]] = field(default_factory=list)  # (slug, version) on the site
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (what, where)
    verified: int = 0  # files read back after writing, each with the SHA-256 meant

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)


def slugs_of(sources: list[Path], archive: Path) -> list[str]:
    """The publications SOURCE_DIR… name, each with an archived edition."""
    archived = {e.slug for e in editions(archive)}
    out = []
    for src in sources:
        slug = Path(src).resolve().name
        if not (Path(src) / "publication.yaml").is_file():
            raise BuildError(f"{src} is not a publication folder (it has no publication.yaml)")
        if slug not in archived:
            raise BuildError(f"{slug} has no released edition in {archive}; nothing was published\n"
                             f"  hint: release it first: `pipeline release {src}`")
        out.append(slug)
    return out


def publish(archive: Path | str = DEFAULT_ARCHIVE, config: Config | None = None, to: str | None = None,
            sources: list[Path] | None = None, dry_run: bool = False, progress=None, design=None,
            target=None) -> Published:
    """Publish every archived edition (of the publications ``sources``
    name, else all) to the destination ``to``. Raises ``Conflict`` before
    writing anything when the destination holds one of the editions' files
    with other bytes."""
    archive = Path(archive)
    config = config or load_config()
    dest = config.destination(to)
    site = target or open_destination(dest)
    say = progress or (lambda line: None)
    all_eds = editions(archive)
    if not all_eds:
        raise BuildError(f"{archive} holds no released edition; nothing was published\n"
                         f"  hint: release one first: `pipeline release sources/<slug>`")
    wanted = set(slugs_of(sources, archive)) if sources else {e.slug for e in all_eds}
    lead = _lead()
    for ed in all_eds:
        if ed.slug in wanted and ed.file(lead.name) is None:
            raise BuildError(f"{ed.folder} holds no {_label(lead.name)}, which the site's page of {ed.slug} leads "
                             f"with (its cover, its page count, {ed.slug}/{lead.output_name(ed.slug)}); nothing was "
                             f"published\n"
                             f"  hint: add {lead.name} to 'formats:' in {ed.slug}'s publication.yaml, then release a "
                             f"new edition")
    ledger = read_ledger(archive)
    result = Published(dest.name)
    signer = None
    if config.signing_key is not None:
        from pipeline.signing import load_key

        signer = load_key(config.signing_key)

    with site.session(dry_run):
        # 1. what each edition needs, and whether the site holds other bytes under any of its names
        plans, conflicts = [], []
        for ed in all_eds:
            if ed.slug not in wanted:
                continue
            files = edition_files(ed, ledger, signer)
            todo = []
            for f in files:
                found = site.existing(f.key)
                if found is None:
                    todo.append(f)
                elif found == f.sha256:
                    result.steps.append(Step(f.key, "skipped", f.size))
                else:
                    conflicts.append(f.key)
            plans.append((ed, files, todo))
        if conflicts:
            shown = ", ".join(site.address(k) for k in conflicts[:10]) + (
                f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
            raise Conflict(f"{site.describe()} already holds {len(conflicts)} file{'s' if len(conflicts) != 1 else ''} "
                           f"of a published edition with other bytes: {shown}. A published edition is never "
                           f"changed; nothing was published\n  hint: give the new edition its own version "
                           f"(edition.version in publication.yaml), release it and publish again")
        for line in (f"{s.key}: skipped (published, same bytes)" for s in result.steps):
            say(line)

        # 2. the editions' files, each edition whole
        for ed, files, todo in plans:
            if not todo:
                continue
            if not dry_run:
                site.put_edition(ed.slug, ed.version, todo)
            for f in todo:
                result.steps.append(Step(f.key, "would upload" if dry_run else "uploaded", f.size))
                say(f"{f.key}: {'would upload' if dry_run else 'uploaded'} ({f.size:,} bytes)")

        # 3. what the site holds now: the archive's editions whose manifest is there
        on_site: dict[str, list[Edition]] = {}
        for ed in all_eds:
            key = f"{ed.slug}/{ed.version}/{MANIFEST}"
            if ed.slug in wanted or site.existing(key) == ledger.get(key):
                on_site.setdefault(ed.slug, []).append(ed)
        result.editions = [(e.slug, e.version) for eds in on_site.values() for e in eds]

        # 4. latest/ and the stable link to the latest edition's lead file (the PDF)
        mutable: list[SiteFile] = []
        for slug, eds in sorted(on_site.items()):
            newest = max(eds, key=lambda e: version_key(e.version))
            files = edition_files(newest, ledger, signer)
            if dry_run:
                if site.latest(slug) != newest.version:
                    say(f"{slug}/{LATEST}/: would point at {newest.version}")
            elif site.set_latest(slug, newest.version, files):
                result.steps.append(Step(f"{slug}/{LATEST}/", "updated"))
                say(f"{slug}/{LATEST}/: now {newest.version}")
            newest_lead = newest.file(lead.name)
            stable = next(f for f in files if f.key == f"{slug}/{newest.version}/{newest_lead.name}")
            mutable.append(SiteFile(f"{slug}/{lead.output_name(slug)}", stable.sha256, stable.size,
                                    source=stable.source, download=lead.output_name(f"{slug}-{newest.version}")))

        # 5. the pages and the feed, last
        if signer is not None:
            mutable.append(generated(PUBLIC_KEY, signer.public_key_file(), download=PUBLIC_KEY))
        signed = set()
        if signer is not None:  # an edition published by another run, before there was a key, has no signature
            signed = {(e.slug, e.version) for eds in on_site.values() for e in eds
                      if e.slug in wanted or site.existing(f"{e.slug}/{e.version}/{SUMS}{SIGNATURE}") is not None}
        mutable += render_pages(config, on_site, design, signed=signed)
        changed = []
        for f in mutable:
            if site.existing(f.key) == f.sha256:
                result.steps.append(Step(f.key, "unchanged", f.size))
            else:
                changed.append(f)
        if changed and not dry_run:
            site.put_all(changed)
        for f in changed:
            action = "would write" if dry_run else "written"
            result.steps.append(Step(f.key, action, f.size))
            say(f"{f.key}: {action} ({f.size:,} bytes)")

        if not dry_run:
            # read back: every file written must be at the destination with the bytes meant
            read_back = getattr(site, "read_back", site.existing)
            meant = {f.key: f.sha256 for f in mutable}
            meant.update({f.key: f.sha256 for _, _, todo in plans for f in todo})
            wrong = [s.key for s in result.steps if s.action in ("uploaded", "written") and read_back(s.key) != meant[s.key]]
            if wrong:
                raise CheckFailed([f"{site.address(key)}: read back with other bytes than were written" for key in wrong])
            result.verified = sum(1 for s in result.steps if s.action in ("uploaded", "written"))


    base = config.url
    where = (lambda key: f"{base}{key}") if base else site.address
    result.addresses = [("index", where(INDEX)), ("feed", where(FEED))]
    for slug in sorted(on_site):
        result.addresses += [(f"{slug} page", where(f"{slug}/{INDEX}")),
                             (f"{slug} {lead.label}", where(f"{slug}/{lead.output_name(slug)}"))]
    return result


# ------------------------------------------------------------------ verify --remote

@dataclass
class RemoteFinding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class RemoteVerification:
    destination: str
    editions: int = 0
    files: int = 0
    findings: list[RemoteFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_remote(archive: Path | str = DEFAULT_ARCHIVE, config: Config | None = None, to: str | None = None,
                  target=None) -> RemoteVerification:
    """Read the published copy back and hold it against the archive's
    manifests: every file of every published edition downloaded and hashed
    (missing, altered), every object under an edition's address that no
    manifest lists (extra), an edition on the site the archive does not
    have, and the stable link against the latest edition's PDF."""
    archive = Path(archive)
    config = config or load_config()
    dest = config.destination(to)
    site = target or open_destination(dest)
    ledger = read_ledger(archive)
    report = RemoteVerification(dest.name)
    known = {(e.slug, e.version): e for e in editions(archive)}
    read_back = getattr(site, "read_back", site.existing)
    with site.session(dry_run=True):
        keys = site.list_keys()
        by_edition: dict[tuple[str, str], set[str]] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) >= 3 and parts[1] != LATEST:
                by_edition.setdefault((parts[0], parts[1]), set()).add("/".join(parts[2:]))
        for (slug, version), names in sorted(by_edition.items()):
            ed = known.get((slug, version))
            if ed is None:
                report.findings.append(RemoteFinding(site.address(f"{slug}/{version}/"),
                                                     f"extra: {len(names)} file(s) of an edition the archive does "
                                                     f"not have"))
                continue
            report.editions += 1
            expected = {f.key.rsplit("/", 1)[-1]: f for f in edition_files(ed, ledger)}
            for name, f in expected.items():
                report.files += 1
                if name not in names:
                    report.findings.append(RemoteFinding(site.address(f.key), "missing"))
                    continue
                found = read_back(f.key)
                if found != f.sha256:
                    report.findings.append(RemoteFinding(site.address(f.key), f"altered: sha256 {found}, the "
                                                                              f"manifest says {f.sha256}"))
            for name in sorted(names - set(expected) - {SUMS + SIGNATURE}):
                report.findings.append(RemoteFinding(site.address(f"{slug}/{version}/{name}"),
                                                     "extra (not in the edition's manifest)"))
        for slug in sorted({s for s, _ in by_edition}):
            eds = [e for (s, _), e in known.items() if s == slug and (s, e.version) in by_edition]
            if not eds:
                continue
            newest = max(eds, key=lambda e: version_key(e.version))
            lead = _lead()
            file = newest.file(lead.name)
            key = f"{slug}/{lead.output_name(slug)}"
            found = read_back(key) if key in keys else None
            if file is not None and found != file.sha256:
                report.findings.append(RemoteFinding(site.address(key), "missing" if found is None else
                                                     f"is not the latest edition's {lead.label} ({newest.version})"))
        unpublished = sorted(f"{s} {v}" for s, v in set(known) - set(by_edition))
        if unpublished:
            report.notes.append(f"not published to {dest.name} (yet): {', '.join(unpublished)}")
    return report
