"""Shared fixtures: real publications built once per test session.

Tests read the finished files back; they never look inside the build."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "sources" / "poverty-alleviation-cooperation"
FIXTURE = ROOT / "tests" / "fixtures" / "sample-report"
#: The flagship's original text: the shared seed beside the repository when
#: there is one, else the copy kept with the tests (tests/fixtures/seed/README.md)
SHARED_SEED = ROOT.parent / "shared" / "seed" / "000_91e611ca93653582.txt"
SEED_COPY = ROOT / "tests" / "fixtures" / "seed" / SHARED_SEED.name
SEED = SHARED_SEED if SHARED_SEED.is_file() else SEED_COPY


@pytest.fixture(scope="session")
def flagship_build(tmp_path_factory):
    """The flagship, built and checked into a temporary dist/."""
    from pipeline.build import build

    return build(FLAGSHIP, tmp_path_factory.mktemp("dist-flagship"))


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
