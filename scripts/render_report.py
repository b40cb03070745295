"""Render an HTML evaluation report to a PNG with headless Chromium, so a person can look at it.

Usage: python scripts/render_report.py report.html report.png [--width 1200] [--height 3000]

Needs Chromium (Debian: `apt-get install chromium`); without it the script says so and
exits 1. Chromium runs with networking features off: the report needs no network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_chromium() -> str | None:
    """The first Chromium or Chrome executable on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(html_path: Path, png_path: Path, width: int, height: int) -> None:
    """Screenshot the page at html_path into png_path."""
    browser = find_chromium()
    if browser is None:
        raise SystemExit("Chromium not found: install it (apt-get install chromium) and retry")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png_path.resolve()}",
                html_path.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    if not png_path.exists():
        raise SystemExit(f"Chromium did not write {png_path}")


def main() -> None:
    """Parse arguments and render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=3200)
    args = parser.parse_args()
    if not args.html.is_file():
        sys.exit(f"{args.html}: no such file")
    render(args.html, args.png, args.width, args.height)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
