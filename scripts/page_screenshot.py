"""Screenshot the page `topicclf serve` shows at / with a demo text tagged, for the README.

Usage: python scripts/page_screenshot.py [--model DIR] [--output docs/page.png]
           [--text TEXT] [--width 980]

Serves the model on 127.0.0.1 (a free port) in this process, opens the page in headless
Chromium through Selenium (Debian: `apt-get install chromium chromium-driver`; the system's
driver is used, nothing is downloaded), types the text, presses the button and saves the
page once its topics are shown, cropped to its content and reduced to 256 colours (Pillow).
Without --model, a model is trained on corpora/newsbriefs/train.jsonl into a temporary
directory first (about a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_serve import train_model
from chromium import CHROMEDRIVER, CHROMIUM, FLAGS

REPO = Path(__file__).resolve().parent.parent
TEXT = (
    "The city council voted on Tuesday to cut the museum's budget by a fifth and close two "
    "of its galleries, after a long debate over the cost of the new concert hall."
)
WAIT = 60  # seconds the page may take to load or to answer


def screenshot(url: str, text: str, png: Path, width: int, profile: Path) -> None:
    """Open the page at `url`, tag `text` and save the window to `png`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [
        *FLAGS,
        "--hide-scrollbars",
        f"--window-size={width},1600",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)
    os.environ["SE_OFFLINE"] = "true"  # the driver is given: never look for one online
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(WAIT)
        driver.get(url)
        wait = WebDriverWait(driver, WAIT)
        wait.until(lambda d: d.find_element("id", "model-info").text)
        driver.find_element("id", "text").send_keys(text)
        driver.find_element("id", "submit").click()
        wait.until(lambda d: d.find_element("id", "results").is_displayed())
        driver.execute_script("document.activeElement.blur()")  # no focus ring in the picture
        driver.save_screenshot(str(png))
    finally:
        driver.quit()


def main() -> None:
    """Parse arguments, serve, screenshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model directory (default: train one)")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "page.png")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--width", type=int, default=980)
    args = parser.parse_args()
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        sys.exit(f"{', '.join(missing)} not found: apt-get install chromium chromium-driver")
    sys.path.insert(0, str(REPO))
    from render_report import crop_to_content

    from topicclf.server import (
        ServeOptions,
        base_url,
        load_models,
        parse_model_specs,
        serve_in_thread,
    )

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or train_model(Path(scratch))
        models = load_models(parse_model_specs([f"newsbriefs={model}"]))
        with serve_in_thread(models, ServeOptions(host="127.0.0.1", port=0)) as (host, port):
            profile = Path(scratch) / "profile"
            screenshot(f"{base_url(host, port)}/", args.text, args.output, args.width, profile)
    width, height = crop_to_content(args.output)
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({width}x{height}, {size // 1024} KB)")


if __name__ == "__main__":
    main()
