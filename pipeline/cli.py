"""The command line: wires the stages together and turns errors into
messages. Exit status: 0 ok, 1 a check failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pipeline import __version__, interrupts
from pipeline.errors import BuildError, CheckFailed, SourceError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _formats(text: str) -> tuple[str, ...]:
    from pipeline.build import FORMATS

    names = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(bad) or '(none)'}; choose from {','.join(FORMATS)}")
    return names


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also print the libraries' log messages (WeasyPrint's steps and warnings)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("dist"), metavar="DIR",
                   help="output folder; a publication goes to DIR/<slug>/ (default: dist/)")


def _formats_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--formats", type=_formats, default=("pdf", "epub", "html"), metavar="LIST",
                   help="comma-separated formats to build: pdf,epub,html (default: all three)")


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
    _common(b)
    b.set_defaults(func=cmd_build)
    _authoring_commands(sub)
    return top


def cmd_build(args) -> int:
    from pipeline.progress import run_build

    run_build(_reporter(args), args.source, out=args.out, formats=args.formats, check=not args.no_check)
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
                python -m pipeline new field-notes --sources ~/writing""")
    n.add_argument("slug", type=_slug, metavar="SLUG",
                   help="the folder's name, also the outputs' names: lower-case letters, digits and hyphens")
    n.add_argument("--sources", type=Path, default=Path("sources"), metavar="DIR",
                   help="where publication folders live (default: sources/)")
    _common(n)
    n.set_defaults(func=cmd_new)

    pv = command("preview", "PNG pictures of the PDF's first pages and a contact sheet",
                 "Render the first pages of <out>/<slug>/<slug>.pdf as PNG images and lay them out on a contact "
                 "sheet, in <out>/<slug>/preview/. Builds first when the PDF is missing or older than its source.",
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

    folder = new(args.slug, args.sources)
    if not args.quiet:
        made = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        print(f"created {folder}/: {', '.join(made)}")
        print(f"next:\n  python -m pipeline build {folder}    # PDF, EPUB and HTML in dist/{args.slug}/\n"
              f"  python -m pipeline watch {folder}    # rebuild on save, see it in the browser")
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


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    restore = interrupts.install()  # SIGTERM, like Ctrl-C, unwinds the build and its staging folder
    try:
        return args.func(args)
    except SourceError as exc:
        if getattr(args, "debug", False):
            raise
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{n} problem{'s' if n != 1 else ''} in the source; nothing was written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CheckFailed as exc:
        if getattr(args, "debug", False):
            raise
        for finding in exc.findings:
            print(finding, file=sys.stderr)
        print("check failed; the previous outputs were kept.", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except BuildError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        print(f"{'stopped by ' + str(exc) if isinstance(exc, interrupts.Interrupted) else 'interrupted'}; "
              f"{getattr(exc, 'note', '') or 'the previous outputs were kept'}.", file=sys.stderr)
        return getattr(exc, "exit_status", 130)
    except Exception as exc:  # a bug in the pipeline or a library, not the user's doing
        if getattr(args, "debug", False):
            raise
        text = " ".join(str(exc).split())
        print(f"internal error: {type(exc).__name__}{': ' + text[:300] if text else ''} "
              "(rerun with --debug for the traceback); the previous outputs were kept.", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        restore()


if __name__ == "__main__":
    sys.exit(main())
