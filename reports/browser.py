"""Open a report in headless Chromium: console errors, image sizes, and a full-page screenshot."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from rnnsweep.data_prep.errors import InputError

# Flags that keep Chromium off the network and away from the user's profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
]

# Appended to a copy of the page (never to the report itself): records each image's size.
PROBE = """<script>
window.addEventListener('load', () => {
  const sizes = Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute('data-image-sizes', JSON.stringify(sizes));
});
</script>"""


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def check_report(index: Path, *, screenshot: Path | None = None, width: int = 1280) -> dict:
    """Load `index` in headless Chromium.

    Args:
        index: The report's `index.html`.
        screenshot: Where to write a full-page PNG (default None: none).
        width: Window width in pixels (default 1280).

    Returns:
        {"console_errors": [...], "images": [[natural width, natural height], ...], "verdict": the
        verdict's text as rendered, or None}.

    Raises:
        InputError: Chromium is not installed.
    """
    browser = find_chromium()
    if browser is None:
        raise InputError("Chromium not found; install it (Debian: apt-get install chromium)")
    index = Path(index).resolve()
    with tempfile.TemporaryDirectory() as profile:
        probe = index.with_name(".probe-index.html")
        probe.write_text(index.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
        try:
            result = subprocess.run(
                [
                    browser,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--enable-logging=stderr",
                    "--v=0",
                    "--dump-dom",
                    probe.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            probe.unlink(missing_ok=True)
        errors = [
            line
            for line in result.stderr.splitlines()
            if "CONSOLE" in line and re.search(r"error|Uncaught|Failed to load", line, re.IGNORECASE)
        ]
        match = re.search(r'data-image-sizes="([^"]*)"', result.stdout)
        images = json.loads(match.group(1).replace("&quot;", '"')) if match else []
        verdict = re.search(r'<p id="verdict">(.*?)</p>', result.stdout, re.DOTALL)
        if screenshot is not None:
            height = _page_height(browser, index, profile, width)
            subprocess.run(
                [
                    browser,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    f"--screenshot={Path(screenshot).resolve()}",
                    "--hide-scrollbars",
                    index.as_uri(),
                ],
                capture_output=True,
                timeout=120,
                check=True,
            )
    return {"console_errors": errors, "images": images, "verdict": html.unescape(verdict.group(1)) if verdict else None}


def _page_height(browser: str, index: Path, profile: str, width: int) -> int:
    """The document's full height at `width`, so the screenshot holds the whole page."""
    page = index.with_name(".height-index.html")
    script = (
        "<script>window.addEventListener('load', () => document.body.setAttribute("
        "'data-height', document.documentElement.scrollHeight));</script>"
    )
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    try:
        result = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},800", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        page.unlink(missing_ok=True)
    match = re.search(r'data-height="(\d+)"', result.stdout)
    return min(int(match.group(1)), 16000) if match else 4000
