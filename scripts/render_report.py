"""Render an HTML evaluation report to a PNG with headless Chromium, so a person can look at it.

Usage: python scripts/render_report.py report.html report.png [--width 1200]

The whole page is captured: Chromium draws it in a window taller than any report
(--max-height, 30000 px), and the empty margin below the page's end is cropped (Pillow,
which matplotlib already installs).

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import FLAGS


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
                "--hide-scrollbars",
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


def crop_to_content(png_path: Path, margin: int = 24) -> tuple[int, int]:
    """Cut the rows below the page's last drawn row (all the background colour of the
    bottom-left pixel), keeping a small margin; returns the new (width, height)."""
    from PIL import Image, ImageChops

    with Image.open(png_path) as image:
        rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((0, rgb.height - 1)))
    box = ImageChops.difference(rgb, background).getbbox()
    bottom = min(rgb.height, (box[3] if box else 1) + margin)
    # 256 colours are plenty for tables and plots, and keep the file small for a README.
    rgb.crop((0, 0, rgb.width, bottom)).quantize(256).save(png_path, optimize=True)
    return rgb.width, bottom


def main() -> None:
    """Parse arguments and render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument(
        "--max-height", type=int, default=30000, help="the tallest page captured whole (px)"
    )
    args = parser.parse_args()
    if not args.html.is_file():
        sys.exit(f"{args.html}: no such file")
    render(args.html, args.png, args.width, args.max_height)
    width, height = crop_to_content(args.png)
    if height >= args.max_height:
        print(f"the page is taller than {args.max_height} px: raise --max-height", file=sys.stderr)
    print(f"wrote {args.png} ({width}x{height})")


if __name__ == "__main__":
    main()
