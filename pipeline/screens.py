"""Screenshots of the HTML page at a phone's and a desktop's width, taken
by Debian's Chromium (driven by Playwright, which downloads no browser)."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.errors import BuildError

#: name -> (width, height) in CSS pixels
VIEWPORTS = {"phone": (360, 740), "desktop": (1280, 900)}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BuildError("no Chromium found for the HTML screenshots; install Debian's 'chromium' package "
                     "(`make test` does it for you)")


def screenshot_html(html: Path, dest: Path) -> list[Path]:
    """``html-phone.png`` and ``html-desktop.png`` of the page's first screens
    (light colour scheme), and their dark twins, in ``dest``."""
    from playwright.sync_api import sync_playwright

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            for name, (width, height) in VIEWPORTS.items():
                for scheme in ("light", "dark"):
                    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
                    # the page fetches nothing; refuse anything it might try
                    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                               else route.abort())
                    page.goto(html.resolve().as_uri())
                    suffix = "" if scheme == "light" else "-dark"
                    path = dest / f"html-{name}{suffix}.png"
                    page.screenshot(path=str(path), full_page=False)
                    page.close()
                    written.append(path)
        finally:
            browser.close()
    return written
