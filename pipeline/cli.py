"""The command line: wires the stages together and turns errors into
messages. Exit status: 0 ok, 1 a check failed, 2 bad input or usage."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from pipeline import __version__
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
    p.add_argument("--verbose", "-v", action="store_true", help="print timings of every step")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


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
    b.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist/)")
    b.add_argument("--formats", type=_formats, default=("pdf", "epub", "html"), help="comma-separated: pdf,epub,html")
    b.add_argument("--no-check", action="store_true", help="skip reading the outputs back (faster, unsafe)")
    _common(b)
    b.set_defaults(func=cmd_build)
    return top


def cmd_build(args) -> int:
    from pipeline.build import build

    result = build(args.source, args.out, formats=args.formats, check=not args.no_check)
    if not args.quiet:
        for fmt, path in result.files.items():
            print(f"{result.publication.slug}: {fmt:<4} {path} ({path.stat().st_size:,} bytes)")
        if args.verbose:
            print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
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
    except KeyboardInterrupt:
        print("interrupted; the previous outputs were kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
