"""The command line: wires the stages together and turns errors into
messages. Exit status: 0 ok, 1 a check failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from pipeline import __version__, interrupts
from pipeline.errors import BuildError, CheckFailed, SourceError, printable

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _formats(text: str) -> tuple[str, ...]:
    from pipeline import formats

    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = formats.unknown(names)
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or '(none)'}; "
                                         f"choose from {','.join(formats.names())}")
    return names


def _formats_help(verb: str) -> str:
    from pipeline import formats

    return (f"comma-separated formats to {verb}, of {','.join(formats.names())} (default: those publication.yaml "
            f"lists under 'formats:', else {','.join(formats.default())})")


def _parallel_labels() -> str:
    from pipeline import formats

    return " and ".join(f.label for f in formats.REGISTRY.values() if f.parallel) or "formats"


def _validators() -> str:
    from pipeline import formats

    return ", ".join(f"{f.label}: {f.validator.tool}" for f in formats.REGISTRY.values() if f.validator) or "none"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also print the libraries' log messages (WeasyPrint's steps and warnings)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("dist"), metavar="DIR",
                   help="output folder; a publication goes to DIR/<slug>/ (default: dist/)")


def _formats_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--formats", type=_formats, default=None, metavar="LIST", help=_formats_help("build"))


def _reporter(args):
    """The progress display for --quiet / a terminal / plain lines (CI, pipes)."""
    from pipeline.progress import reporter, verbose_logging

    report = reporter(quiet=args.quiet, verbose=args.verbose)
    if args.verbose and not args.quiet:
        verbose_logging(report)
    return report


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pipeline",
        description="Publish one canonical source (YAML + Markdown) as PDF, EPUB 3 and HTML, each checked against the source.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 ok, 1 an output disagrees with its source, 2 bad input or usage",
    )
    top.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    b = sub.add_parser("build", help="build (and check) a publication",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Build a publication folder into <out>/<slug>/ as PDF, EPUB and HTML, check each output, "
                                   "and replace the previous outputs only when everything succeeded.",
                       epilog=textwrap.dedent("""\
                           example:
                             python -m pipeline build sources/poverty-alleviation-cooperation
                             python -m pipeline build sources/my-report --out /tmp/dist --formats pdf,html"""))
    b.add_argument("source", type=Path, metavar="SOURCE_DIR", help="publication folder (holds publication.yaml)")
    _out(b)
    _formats_option(b)
    b.add_argument("--no-check", action="store_true", help="skip reading the outputs back (faster, unsafe)")
    b.add_argument("--jobs", "-j", type=_positive, default=None, metavar="N",
                   help=f"lay the {_parallel_labels()} out in N processes (default: one per available core; 1: one WeasyPrint document)")
    _common(b)
    b.set_defaults(func=cmd_build)
    _check_command(sub)
    _edition_commands(sub)
    _publish_command(sub)
    _authoring_commands(sub)
    return top


def cmd_build(args) -> int:
    from pipeline.progress import run_build

    run_build(_reporter(args), args.source, out=args.out, formats=args.formats, check=not args.no_check,
              jobs=args.jobs)
    return EXIT_OK


# ---------------------------------------------------------------- check

def _check_command(sub) -> None:
    c = sub.add_parser("check", help="check built outputs against their source, without rebuilding",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=textwrap.fill(
                           "Read each format's file (<slug>.<format>) back and hold it against the source: the "
                           "outline entry by entry (bookmarks, EPUB navigation, HTML headings), the printed contents "
                           "and its page numbers, every paragraph and footnote of the text; then each format's "
                           f"validator ({_validators()}) and its own conformance checks (the PDF's metadata, fonts "
                           "and bookmarks). Writes the machine-readable report to <dist>/check.json.", 79),
                       epilog=textwrap.dedent("""\
                           example:
                             python -m pipeline check sources/poverty-alleviation-cooperation
                             python -m pipeline check sources/my-report --dist /tmp/dist/my-report --formats pdf

                           exit status: 0 every output agrees with the source, 1 an output disagrees,
                           2 bad input or usage (e.g. the outputs were never built)"""))
    c.add_argument("source", type=Path, metavar="SOURCE_DIR", help="publication folder (holds publication.yaml)")
    _out(c)
    c.add_argument("--dist", type=Path, metavar="DIR",
                   help="the folder that holds the outputs, <slug>.<format> (default: <out>/<slug>/)")
    c.add_argument("--formats", type=_formats, default=None, metavar="LIST", help=_formats_help("check"))
    c.add_argument("--quiet", "-q", action="store_true", help="print findings only")
    c.add_argument("--verbose", "-v", action="store_true", help="also print what each reader found and the timings")
    c.add_argument("--debug", action="store_true", help="show Python tracebacks")
    c.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    import contextlib

    from pipeline import formats, source
    from pipeline.check import check_outputs, output_file
    from pipeline.lock import output_lock

    pub = source.load(args.source)
    args.formats = args.formats or formats.ordered(pub.formats or formats.default())
    folder = args.dist if args.dist is not None else args.out / pub.slug
    missing = [output_file(folder, pub.slug, fmt) for fmt in args.formats
               if not output_file(folder, pub.slug, fmt).is_file()]
    if missing:
        raise BuildError(f"nothing to check: {', '.join(str(m) for m in missing)} not found; "
                         f"build first with `python -m pipeline build {args.source}`")
    # the build's own lock: a build swapping new files in meanwhile would
    # have the check read some old files and some new, and its check.json
    # would be overwritten by ours
    with output_lock(args.out, pub.slug) if args.dist is None else contextlib.nullcontext():
        report = check_outputs(pub, folder, formats=args.formats)
        report.write(folder / "check.json")
    if args.verbose and not args.quiet:
        for fmt, r in report.formats.items():
            ex = r.extracted
            found = f"{len(ex.outline)} outline entries, {len(ex.contents)} contents lines" if ex else "nothing"
            tool = r.conformance.tool if r.conformance else "no conformance check"
            times = ", ".join(f"{k} {v:.2f}s" for k, v in r.timings.items())
            print(f"{pub.slug}: {fmt:<4} {found}; {tool}; {times}")
        print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in report.timings.items()))
    if not report.ok:
        for finding in report.findings():
            print(_shown(finding), file=sys.stderr)
        n = len(report.findings())
        print(f"{pub.slug}: check failed with {n} finding{'s' if n != 1 else ''}; report in {folder / 'check.json'}",
              file=sys.stderr)
        return EXIT_CHECK_FAILED
    if not args.quiet:
        print(f"{pub.slug}: {', '.join(report.formats)} agree with the source "
              f"({report.timings['total']:.1f} s); report in {folder / 'check.json'}")
    return EXIT_OK


# ---------------------------------------------------------------- editions

def _edition_commands(sub) -> None:
    from pipeline.editions import DEFAULT_ARCHIVE

    def archive_option(p):
        p.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, metavar="DIR",
                       help=f"the editions archive (default: {DEFAULT_ARCHIVE}/)")
        p.add_argument("--debug", action="store_true", help="show Python tracebacks")

    def command(parent, name, help, description, example):
        return parent.add_parser(name, help=help, description=textwrap.fill(description, 78),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "))

    r = command(sub, "release", "build, check and archive an edition (never overwrites one)",
                "Build and check a publication, then archive it as <archive>/<slug>/<version>/: PDF/A-3 (with the "
                "source attached), EPUB, HTML, the source as a tarball, the check's report and a manifest of "
                "SHA-256 checksums. A failing check archives nothing. Releasing a version that is already archived "
                "changes nothing: it exits 0 if the files would be identical and 2 if they would differ.",
                """\
                python -m pipeline release sources/poverty-alleviation-cooperation
                python -m pipeline release sources/my-report --archive /srv/editions""")
    r.add_argument("source", type=Path, metavar="SOURCE_DIR", help="publication folder (holds publication.yaml)")
    archive_option(r)
    r.set_defaults(func=cmd_release)

    e = command(sub, "editions", "list, verify or compare archived editions",
                "Read the editions archive: list it, verify its checksums, compare two editions.",
                """\
                python -m pipeline editions list
                python -m pipeline editions verify --archive dist/editions
                python -m pipeline editions diff poverty-alleviation-cooperation 1.0.0 1.1.0""")
    esub = e.add_subparsers(dest="editions_command", metavar="ACTION", required=True)
    ls = command(esub, "list", "every archived edition with its files and sizes",
                 "List every archived edition: publication, version, edition date, files and sizes.",
                 "python -m pipeline editions list --archive dist/editions")
    archive_option(ls)
    ls.set_defaults(func=cmd_editions_list)
    v = command(esub, "verify", "recompute every checksum against the manifests (exit 1 on any difference)",
                "Recompute the SHA-256 of every archived file and compare it with its edition's manifest. Every "
                "missing, altered or extra file is named; the exit status is 1 if there is any.",
                "python -m pipeline editions verify --archive dist/editions\n"
                "python -m pipeline editions verify --remote site")
    archive_option(v)
    v.add_argument("--remote", metavar="DEST",
                   help="verify the published copy on this destination of publish.yaml instead: every file of every "
                        "published edition downloaded and compared with its manifest")
    v.add_argument("--config", type=Path, metavar="FILE", help="the destinations file (default: ./publish.yaml)")
    v.set_defaults(func=cmd_editions_verify)
    d = command(esub, "diff", "outline and text changes between two archived editions",
                "Compare two archived editions of a publication from their archived sources: metadata, the "
                "outline heading by heading, and the text sentence by sentence, grouped by section.",
                "python -m pipeline editions diff poverty-alleviation-cooperation 1.0.0 1.1.0")
    d.add_argument("slug", metavar="SLUG", help="the publication (its folder name)")
    d.add_argument("v1", metavar="V1", help="the older version")
    d.add_argument("v2", metavar="V2", help="the newer version")
    archive_option(d)
    d.set_defaults(func=cmd_editions_diff)


def cmd_release(args) -> int:
    from pipeline.editions import release

    try:
        r = release(args.source, args.archive)
    except CheckFailed as exc:
        if args.debug:
            raise
        for finding in exc.findings:
            print(_shown(finding), file=sys.stderr)
        print("check failed; nothing was archived.", file=sys.stderr)
        return EXIT_CHECK_FAILED
    for note in r.notes:
        print(f"note: {_shown(note)}", file=sys.stderr)
    ed = r.edition
    if not r.created:
        print(f"{ed.slug} {ed.version} is already archived in {ed.folder} with identical files; nothing was changed.")
        return EXIT_OK
    print(f"released {ed.slug} {ed.version} ({ed.manifest['edition_date']}) into {ed.folder}")
    width = max(len(f.name) for f in ed.files)
    for f in ed.files:
        print(f"  {f.name:<{width}}  {f.size:>12,} bytes  sha256 {f.sha256[:16]}…")
    return EXIT_OK


def cmd_editions_list(args) -> int:
    from pipeline.editions import editions, human_size

    eds = editions(args.archive)
    if not eds:
        print(f"{args.archive} holds no editions.")
        return EXIT_OK
    rows = [("PUBLICATION", "VERSION", "DATE", "RELEASED", "FILES", "SIZE")]
    for ed in eds:
        rows.append((ed.slug, ed.version, ed.manifest["edition_date"], ed.manifest.get("released", ""),
                     str(len(ed.files)), human_size(sum(f.size for f in ed.files))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    print(line(rows[0]))
    for ed, row in zip(eds, rows[1:]):
        print(line(row))
        for f in ed.files:
            print(f"    {f.name:<{max(len(g.name) for g in ed.files)}}  {f.size:>12,} bytes")
    return EXIT_OK


def cmd_editions_verify(args) -> int:
    from pipeline.editions import verify

    if args.remote:
        from pipeline.publish import load_config, verify_remote

        remote = verify_remote(args.archive, load_config(args.config), to=args.remote)
        return _verdict(remote, f"{remote.editions} published edition(s), {remote.files} file(s) read back from "
                                f"{remote.destination}", "every file matches its manifest.")
    report = verify(args.archive)
    return _verdict(report, f"{report.editions} edition(s), {report.files} file(s) checked",
                    "every checksum matches its manifest.")


def _verdict(report, summary: str, all_good: str) -> int:
    """Print a verification's notes, findings and summary line (the archive's
    or the published copy's); its exit status."""
    for note in report.notes:
        print(f"note: {note}")
    for finding in report.findings:
        print(finding)
    if report.ok:
        print(f"{summary}: {all_good}")
        return EXIT_OK
    n = len(report.findings)
    print(f"{summary}: {n} problem{'s' if n != 1 else ''}.")
    return EXIT_CHECK_FAILED


def cmd_editions_diff(args) -> int:
    from pipeline.editions import diff, format_diff

    print(format_diff(diff(args.archive, args.slug, args.v1, args.v2)), end="")
    return EXIT_OK


# ---------------------------------------------------------------- publish

def _publish_command(sub) -> None:
    from pipeline.editions import DEFAULT_ARCHIVE

    p = sub.add_parser("publish", help="publish the released editions to a site folder or an S3 bucket",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=textwrap.fill(
                           "Publish every released edition in the archive (never an unreleased build) to a "
                           "destination named in publish.yaml (default: the folder site/): each edition at "
                           "<slug>/<version>/ with its SHA256SUMS, <slug>/latest/ and <slug>/<slug>.pdf for the "
                           "newest, a landing page per publication, an index page and an Atom feed. A published "
                           "edition is never changed: a file already there with other bytes stops the publish "
                           "before anything is written; the same bytes are skipped, so publishing again is safe.",
                           79),
                       epilog=textwrap.dedent("""\
                           example:
                             python -m pipeline publish
                             python -m pipeline publish sources/my-report --to bucket --dry-run

                           exit status: 0 published (or nothing to do), 1 a file read back differs from what
                           was written, 2 bad input or usage (publish.yaml, a conflict with a published edition)"""))
    p.add_argument("sources", type=Path, nargs="*", metavar="SOURCE_DIR",
                   help="publish only these publications (default: every publication in the archive)")
    p.add_argument("--to", metavar="DEST", help="a destination named in publish.yaml (default: its 'default')")
    p.add_argument("--config", type=Path, metavar="FILE", help="the destinations file (default: ./publish.yaml)")
    p.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, metavar="DIR",
                   help=f"the editions archive (default: {DEFAULT_ARCHIVE}/)")
    p.add_argument("--dry-run", "-n", action="store_true", help="list what would change, change nothing")
    p.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    p.set_defaults(func=cmd_publish)


def cmd_publish(args) -> int:
    from pipeline.publish import load_config, publish

    say = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    config = load_config(args.config)
    r = publish(args.archive, config, to=args.to, sources=args.sources, dry_run=args.dry_run, progress=say)
    if args.quiet:
        return EXIT_OK
    n_up = r.count("would upload" if args.dry_run else "uploaded")
    n_pages = r.count("would write" if args.dry_run else "written")
    verb = "would publish" if args.dry_run else "published"
    print(f"{verb} {len(r.editions)} edition(s) to {r.destination}: {n_up} file(s) "
          f"{'to upload' if args.dry_run else 'uploaded'}, {r.count('skipped')} already there, "
          f"{n_pages} page(s) {'to write' if args.dry_run else 'written'}, {r.count('unchanged')} unchanged"
          + ("" if args.dry_run or not r.verified else f"; {r.verified} read back, each with the SHA-256 meant"))
    if not args.dry_run:
        width = max(len(what) for what, _ in r.addresses)
        for what, where in r.addresses:
            print(f"  {what:<{width}}  {where}")
    return EXIT_OK


# ------------------------------------------------------ new, preview, watch

def _authoring_commands(sub) -> None:
    def command(name, help, description, example, status="0 ok, 2 bad input or usage"):
        return sub.add_parser(name, help=help, description=textwrap.fill(description, 79),
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  ")
                                     + f"\n\nexit status: {status}")

    def optional_source(p):
        p.add_argument("source", type=Path, nargs="?", metavar="SOURCE_DIR",
                       help="publication folder (default: the current folder if it holds publication.yaml, "
                            "else the only publication under sources/)")

    n = command("new", "start a publication from a sample that builds and checks clean",
                "Create sources/SLUG/ with a commented publication.yaml (every key explained), a preface, a sample "
                "chapter (footnote, table, figure, cross reference) and its figure. An existing folder is never "
                "overwritten.",
                """\
                python -m pipeline new annual-report-2026
                python -m pipeline new field-notes --sources ~/writing
                python -m pipeline new diaocha-baogao --language zh-Hans""")
    n.add_argument("slug", type=_slug, metavar="SLUG",
                   help="the folder's name, also the outputs' names: lower-case letters, digits and hyphens")
    n.add_argument("--sources", type=Path, default=Path("sources"), metavar="DIR",
                   help="where publication folders live (default: sources/)")
    n.add_argument("--language", default="en", metavar="TAG",
                   help="BCP 47 tag of the text, e.g. zh-Hans: the sample is written in it when the project has "
                        "one in that language (English and Simplified Chinese), and its fonts and words follow it "
                        "(default: en)")
    _common(n)
    n.set_defaults(func=cmd_new)

    im = command("import", "make a publication folder from an existing Markdown document or mdBook",
                 "Make sources/<slug>/ from an existing document: one Markdown file (split at its top-level "
                 "headings; a single title heading becomes the title), a folder of Markdown chapters (in the order "
                 "their names give, README.md or index.md first), or an mdBook (SUMMARY.md, in the folder or its "
                 "src/). Writes publication.yaml from what it finds and converts what the build needs: links "
                 "between the files become links to sections, <img> becomes Markdown images, HTML comments are "
                 "dropped, mdBook includes are resolved; images are copied. Each change is printed with its file "
                 "and line. An existing folder is never overwritten.",
                 """\
                 python -m pipeline import ~/notes/handbook.md
                 python -m pipeline import ~/src/my-book --slug my-book --sources ~/writing""")
    im.add_argument("path", type=Path, metavar="PATH",
                    help="a Markdown file, a folder of Markdown files, or an mdBook's folder (or its SUMMARY.md)")
    im.add_argument("--slug", type=_slug, metavar="S",
                    help="the new folder's name (default: made from the title)")
    im.add_argument("--sources", type=Path, default=Path("sources"), metavar="DIR",
                    help="where publication folders live (default: sources/)")
    _common(im)
    im.set_defaults(func=cmd_import)

    pv = command("preview", "PNG pictures of the outputs (the PDF's first pages, the HTML page, the slides)",
                 "Picture each output in <out>/<slug>/preview/ as its format does: the PDF's first pages as PNG "
                 "images on a contact sheet, the HTML page at phone and desktop widths, every slide of a deck. "
                 "Builds first when the outputs are missing or older than their source.",
                 """\
                 python -m pipeline preview sources/poverty-alleviation-cooperation
                 python -m pipeline preview sources/my-report --pages 1,3 --width 600 --dest docs/images""",
                 status="0 ok, 1 the build's check failed, 2 bad input or usage")
    optional_source(pv)
    _out(pv)
    pv.add_argument("--pages", type=_pages, default=4, metavar="N|LIST",
                    help="the first N pages (default: 4), or a list such as 1,3 or 1-3")
    pv.add_argument("--width", type=_positive, default=800, metavar="PX",
                    help="width of each page image in pixels (default: 800)")
    pv.add_argument("--dest", type=Path, metavar="DIR", help="write the images here instead of <out>/<slug>/preview/")
    _common(pv)
    pv.set_defaults(func=cmd_preview)

    w = command("watch", "rebuild on every save, serve on 127.0.0.1 and reload the browser",
                "Build the publication, serve <out>/ on http://127.0.0.1:PORT/ and rebuild whenever a file of the "
                "publication or templates/ changes; the open HTML page reloads after each good build. A failed "
                "build shows its error in the terminal and over the page, and the last good output stays served. "
                "Ctrl-C stops.",
                """\
                python -m pipeline watch sources/my-report
                python -m pipeline watch sources/my-report --formats html --no-check --port 8001""",
                status="0 stopped with Ctrl-C, 2 bad input or usage (e.g. the port is taken)")
    optional_source(w)
    _out(w)
    _formats_option(w)
    w.add_argument("--no-check", action="store_true", help="skip reading the outputs back (faster rebuilds)")
    w.add_argument("--port", type=_port, default=8000, metavar="N", help="port on 127.0.0.1 (default: 8000; 0: any free port)")
    w.add_argument("--open", action="store_true", help="open the page in the web browser")
    _common(w)
    w.set_defaults(func=cmd_watch)


def _slug(text: str) -> str:
    from pipeline.scaffold import check_slug

    try:
        return check_slug(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pages(text: str):
    from pipeline.preview import page_numbers

    try:
        return page_numbers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number above 0")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0 to 65535)")
    return int(text)


def cmd_new(args) -> int:
    from pipeline.scaffold import new

    folder = new(args.slug, args.sources, language=args.language)
    if not args.quiet:
        made = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        print(f"created {folder}/: {', '.join(made)}")
        me = "pipeline" if Path(sys.argv[0]).name == "pipeline" else "python -m pipeline"  # as the user typed it
        print(f"next:\n  {me} watch {folder}    # rebuild on save, see it in the browser\n"
              f"  {me} build {folder}    # PDF, EPUB and HTML in dist/{args.slug}/, checked")
    return EXIT_OK


def cmd_import(args) -> int:
    from pipeline.importer import import_document, summarise

    result = import_document(args.path, args.sources, args.slug)
    if not args.quiet:
        for line in summarise(result.changes, verbose=args.verbose):
            print(line)
        n = len(result.changes)
        print(f"imported {args.path} ({result.kind}) into {result.folder}/: "
              f"{len(result.files)} files, {n} change{'s' if n != 1 else ''}")
        for note in result.notes:
            print(f"  {note}")
        me = "pipeline" if Path(sys.argv[0]).name == "pipeline" else "python -m pipeline"
        print(f"next:\n  {me} build {result.folder}")
    return EXIT_OK


def cmd_preview(args) -> int:
    from pipeline.preview import run
    from pipeline.scaffold import find_publication

    run(find_publication(args.source), args.out, _reporter(args), pages=args.pages, width=args.width, dest=args.dest)
    return EXIT_OK


def cmd_watch(args) -> int:
    from pipeline.scaffold import find_publication
    from pipeline.watch import watch

    return watch(find_publication(args.source), args.out, _reporter(args), formats=args.formats,
                 check=not args.no_check, port=args.port, verbose=args.verbose, open_browser=args.open)


def _shown(text: str) -> str:
    """A message as printed: its lines kept, anything in them a terminal
    would act on escaped (errors.printable)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    restore = interrupts.install()  # SIGTERM, like Ctrl-C, unwinds the build and its staging folder
    try:
        return args.func(args)
    except SourceError as exc:
        if getattr(args, "debug", False):
            raise
        for problem in [*exc.warnings, *exc.problems]:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} in the source; nothing was written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CheckFailed as exc:
        if getattr(args, "debug", False):
            raise
        for finding in exc.findings:
            print(_shown(finding), file=sys.stderr)
        print(exc.outcome(), file=sys.stderr)
        return EXIT_CHECK_FAILED
    except BuildError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {_shown(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print(f"{'stopped by ' + str(exc) if isinstance(exc, interrupts.Interrupted) else 'interrupted'}; "
              f"{getattr(exc, 'note', '') or 'the previous outputs were kept'}.", file=sys.stderr)
        return getattr(exc, "exit_status", 130)
    except BrokenPipeError:  # the reader went away (`pipeline editions list | head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
        return EXIT_OK
    except Exception as exc:  # a bug in the pipeline or a library, not the user's doing
        if getattr(args, "debug", False):
            raise
        text = printable(" ".join(str(exc).split()))
        print(f"internal error: {type(exc).__name__}{': ' + text[:300] if text else ''} "
              "(rerun with --debug for the traceback); the previous outputs were kept.", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        from pipeline import children

        children.end_all()  # no validator outlives the command, whatever happened
        restore()


if __name__ == "__main__":
    sys.exit(main())
