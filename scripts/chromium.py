"""How the scripts and tests run Debian's Chromium headless: the browser and its driver from
the system's packages, and flags that keep it from reaching the network on its own (this
machine's network is closed, and Chromium retries refused connections many at a time)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
