"""The project's fonts for the HTML page: subset to the
characters the text uses and compressed as WOFF2, so the page looks like
the report and still fetches nothing. Deterministic: the same text gives
the same bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

from pipeline import fonts
from pipeline.render.common import font_dirs

#: The faces the HTML page's stylesheet uses: (family, file, weight, style).
#: Five faces keep the page small and the subsetting quick (about 0.2 s a
#: face); other weights fall back to the nearest of these.
FACES = (
    ("Source Serif Pro", "SourceSerifPro-Regular.ttf", 400, "normal"),
    ("Source Serif Pro", "SourceSerifPro-It.ttf", 400, "italic"),
    ("Source Sans Pro", "SourceSansPro-Regular.ttf", 400, "normal"),
    ("Source Sans Pro", "SourceSansPro-Semibold.ttf", 600, "normal"),
    ("Source Sans Pro", "SourceSansPro-Bold.ttf", 700, "normal"),
)


@dataclass(frozen=True)
class WebFont:
    family: str
    weight: int
    style: str
    filename: str  # e.g. SourceSerifPro-Regular.woff2
    data: bytes

    @property
    def format(self) -> str:
        return self.filename.rsplit(".", 1)[1]


def _path(name: str) -> Path:
    for d in font_dirs():
        if (d / name).is_file():
            return d / name
    raise FileNotFoundError(name)


@lru_cache(maxsize=64)
def _subset(name: str, characters: str) -> bytes:
    font = TTFont(_path(name), recalcTimestamp=False, lazy=True)
    options = subset.Options()
    options.flavor = "woff2"
    # OpenType layout tables (kerning, ligatures) are left out: reading them
    # costs 0.25 s a face, and the page reads well without them
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF"]
    options.name_IDs = ["*"]  # keep the licence and names
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff2"
    font.save(out)
    return out.getvalue()


def web_fonts(text: str, stacks: "fonts.Stacks | None" = None) -> list[WebFont]:
    """Every face, subset to the characters of ``text`` (plus digits and
    basic punctuation, which CSS generated content may print); then each
    other family the publication's stacks use (pipeline.fonts), subset to
    the characters it sets."""
    characters = "".join(sorted(set(text) | set("0123456789.,:;%()-–—·…’“” ")))
    out = [WebFont(family, weight, style, name.replace(".ttf", ".woff2"), _subset(name, characters))
           for family, name, weight, style in FACES]
    for family in (stacks.families if stacks else ()):
        if family in (fonts.SERIF, fonts.SANS):
            continue
        used = stacks.characters_for(family, characters)
        if not used:
            continue
        if family not in fonts.CJK_FAMILIES:
            used = _with_parts(used, family, characters)
        for face in family.faces:
            # the scripts that are shaped (Arabic joins, Devanagari and Thai reorder
            # and stack) keep the font's layout tables; the CJK fonts need none
            out.append(WebFont(family.name, face.weight, face.style, _woff_name(face.file),
                               _subset_hb(family.path(face), used, family not in fonts.CJK_FAMILIES)))
    return out


def _with_parts(characters: str, family, page: str) -> str:
    """``characters`` and the characters each decomposes into that the
    family has (a browser draws Thai SARA AM, ำ, as NIKHAHIT and SARA AA),
    and the ASCII punctuation of the ``page`` the family has: a browser sets
    a mark and the character before it in one font, and a lone Devanagari
    virama quoted in code ('्') was tofu."""
    import string
    import unicodedata

    out = set(characters) | {c for c in set(page) & set(string.punctuation) if family.covers(ord(c))}
    for ch in characters:
        for part in unicodedata.decomposition(ch).split():
            if not part.startswith("<") and family.covers(int(part, 16)):
                out.add(chr(int(part, 16)))
    return "".join(sorted(out))


def _woff_name(file: str) -> str:
    return file.rsplit(".", 1)[0].replace("[wght]", "") + ".woff"


@lru_cache(maxsize=64)
def _subset_hb(path: Path, characters: str, layout: bool = False) -> bytes:
    """A fallback family (pipeline.fonts) subset by HarfBuzz and wrapped as
    WOFF: fontTools takes 10 s or more to subset a CJK font, and Brotli
    (WOFF2) 2 s more to compress it; HarfBuzz takes 20 ms and zlib 50.
    With ``layout``, the glyphs the font's substitutions reach and its
    layout tables (GSUB, GPOS, GDEF) are kept: without them Arabic is
    drawn unjoined and a Devanagari conjunct or a Thai vowel as tofu."""
    import uharfbuzz as hb
    from fontTools.ttLib import TTFont

    face = hb.Face(hb.Blob.from_file_path(str(path)))
    wanted = hb.SubsetInput()
    for ch in characters:
        wanted.unicode_set.add(ord(ch))
    wanted.flags = hb.SubsetFlags.DESUBROUTINIZE | hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    if layout:  # every feature: the browser applies the ones the script needs
        features = wanted.sets(hb.SubsetInputSets.LAYOUT_FEATURE_TAG)
        features.clear()
        features.invert()
        # the dotted circle a browser draws under a mark that has no letter to sit on
        wanted.unicode_set.add(0x25CC)
    else:  # as for the project's own faces: no layout features
        for tag in ("GSUB", "GPOS", "GDEF"):
            wanted.sets(hb.SubsetInputSets.DROP_TABLE_TAG).add(int.from_bytes(tag.encode("ascii"), "big"))
    data = hb.subset(face, wanted).blob.data
    font = TTFont(io.BytesIO(data), recalcBBoxes=False, recalcTimestamp=False, lazy=True)
    font.flavor = "woff"
    out = io.BytesIO()
    font.save(out, reorderTables=False)
    return out.getvalue()
