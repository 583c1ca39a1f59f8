"""Render a local HTML file in headless Chromium (Debian's ``chromium`` package): its DOM, or a screenshot.

The flags keep Chromium off the network and out of the user's profile: a fresh
``--user-data-dir`` per call, no background networking, component updates or sync.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)


def _run(html: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *extra, Path(html).resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )


def dump_dom(html: Path) -> str:
    """The DOM Chromium built from the page."""
    return _run(html, "--dump-dom").stdout


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 3400) -> Path:
    """A PNG of the page as Chromium draws it."""
    _run(html, f"--window-size={width},{height}", f"--screenshot={Path(png).resolve()}")
    return Path(png)
