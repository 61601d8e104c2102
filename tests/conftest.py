"""Shared fixtures: real publications built once per test session.

Tests read the finished files back; they never look inside the build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The suite validates one-shot, as the tests of the build's processes
#: expect (its JVMs end with it); tests/test_validator_service.py turns the
#: warm validators on in a folder of its own and stops what it started.
os.environ["PIPELINE_VALIDATOR_SERVICE"] = "0"
FLAGSHIP = ROOT / "sources" / "poverty-alleviation-cooperation"
FIXTURE = ROOT / "tests" / "fixtures" / "sample-report"
#: The flagship's original text: the shared seed beside the repository when
#: there is one, else the copy kept with the tests (tests/fixtures/seed/README.md)
SHARED_SEED = ROOT.parent / "shared" / "seed" / "000_91e611ca93653582.txt"
SEED_COPY = ROOT / "tests" / "fixtures" / "seed" / SHARED_SEED.name
SEED = SHARED_SEED if SHARED_SEED.is_file() else SEED_COPY


@pytest.fixture(scope="session")
def flagship_build(tmp_path_factory):
    """The flagship, built and checked into a temporary dist/: the report's
    formats (its publication.yaml asks for its slide deck too, which
    tests/test_slides.py builds)."""
    from pipeline import formats
    from pipeline.build import build

    return build(FLAGSHIP, tmp_path_factory.mktemp("dist-flagship"), formats=formats.default())


@pytest.fixture(scope="session")
def fixture_build(tmp_path_factory):
    """The small test publication, built and checked into a temporary dist/."""
    from pipeline.build import build

    return build(FIXTURE, tmp_path_factory.mktemp("dist-fixture"))


ZH_FIXTURE = ROOT / "tests" / "fixtures" / "zh-report"


@pytest.fixture(scope="session")
def zh_build(tmp_path_factory):
    """The Chinese test publication (issue 13), built and checked into a temporary dist/."""
    from pipeline.build import build

    return build(ZH_FIXTURE, tmp_path_factory.mktemp("dist-zh"))


def next_edition(where: Path) -> Path:
    """A copy of the fixture as edition 1.2.0: a section added, one
    sentence changed, the history continued."""
    src = where / "sample-report"
    shutil.copytree(FIXTURE, src)
    yaml = src / "publication.yaml"
    text = yaml.read_text("utf-8")
    text = text.replace("  version: 1.1.0\n  date: 2026-10-01\n", "  version: 1.2.0\n  date: 2026-11-15\n")
    text = text.replace("      note: Adds the maintenance findings.\n",
                        "      note: Adds the maintenance findings.\n"
                        "    - version: 1.2.0\n      date: 2026-11-15\n      note: Adds the costs.\n")
    yaml.write_text(text, "utf-8")
    findings = src / "findings.md"
    text = findings.read_text("utf-8")
    assert "Water points with a local committee were repaired twice as fast." in text
    text = text.replace("Water points with a local committee were repaired twice as fast.",
                        "Water points with a local committee were repaired three times as fast.")
    text += "\n## Costs\n\nA repair cost a committee about one month of its fund.\n"
    findings.write_text(text, "utf-8")
    return src


@pytest.fixture(scope="session")
def released_archive(tmp_path_factory):
    """An editions archive holding the fixture as released (1.1.0) and its
    next edition (1.2.0), released once for the session (the editions and
    the publishing tests read it; a test that changes an archive copies it)."""
    from pipeline.editions import release

    root = tmp_path_factory.mktemp("editions")
    archive = root / "archive"
    first = release(FIXTURE, archive)
    second = release(next_edition(root), archive)
    assert first.created and second.created
    return archive


def small_tmpfs(tmp_path: Path, size: str):
    """A tmpfs of ``size`` (needs root; else the test is skipped) at
    ``tmp_path/small``, and a way to fill it up leaving ``leave_kb``; for a
    fixture to ``yield from``."""
    import os
    import subprocess

    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")

    def fill(leave_kb: int = 0) -> None:
        st = os.statvfs(disk)
        free = st.f_bavail * st.f_frsize - leave_kb * 1024
        if free > 0:
            with open(disk / "filler", "ab") as f:
                try:
                    f.write(b"\0" * free)
                except OSError:
                    pass
    try:
        yield disk, fill
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
