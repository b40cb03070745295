"""The web page at `/`: its files (shipped in `static/`, read once), the Accept header that
chooses it over the health JSON, and the headers that keep it to its own origin."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

PAGE_PREFIX = "/page"
# The page runs only its own files and talks only to this server: no inline script or
# style, no other origin, no plugin, no framing, no form sent anywhere (the script sends).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Small files, checked on every load: a new version shows after an upgrade.
    "Cache-Control": "no-cache",
}
# The files under PAGE_PREFIX and their media types; index.html is served at `/`.
ASSETS = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",  # else browsers ask for /favicon.ico, and log its 404
}


@dataclass(frozen=True)
class Page:
    """The page's files, read from the installed package."""

    index: bytes
    assets: dict[str, bytes]

    @classmethod
    def load(cls) -> Page:
        """Read the files shipped in topicclf/server/static (package data)."""
        static = resources.files("topicclf.server") / "static"
        assets = {name: (static / name).read_bytes() for name in ASSETS}
        return cls((static / "index.html").read_bytes(), assets)


_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _ranges(accept: str) -> dict[str, float]:
    """The Accept header's media ranges (lower case) and their q values; a range given
    twice keeps its highest q. A q HTTP does not allow makes its range not acceptable."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                # HTTP's qvalue: 0 to 1 with at most three decimals. float() read q=1_0 as
                # 10 and took inf, 2 and 1e999, which outranked a real q=1.
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else 0.0
        media = media.lower()
        if media:
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def wants_page(accept: str) -> bool:
    """Whether a GET / asks for the page: text/html named, and preferred over JSON.

    Browsers name text/html first; curl, scripts and monitors send */* or
    application/json, and keep getting the health JSON that / gave before the page. Each
    q is that of the most specific range naming it, as HTTP says: JSON's application/json,
    else application/*, else */* (`application/json;q=0, */*` refuses JSON); the page's
    text/html, else text/* (never */* alone). When neither is acceptable, the JSON.
    """
    ranges = _ranges(accept)
    named = next((ranges[media] for media in ("text/html", "text/*") if media in ranges), 0.0)
    html = max(named, ranges.get("application/xhtml+xml", 0.0))
    json = next(
        (
            ranges[media]
            for media in ("application/json", "application/*", "*/*")
            if media in ranges
        ),
        0.0,
    )
    return html > 0 and html > json


def page_router(page: Page, health: Callable[[], Response]) -> APIRouter:
    """GET / (the page for browsers, `health` for others) and the page's own files."""
    router = APIRouter(include_in_schema=False)

    # async: a plain `def` route runs in a new thread, which a server short of memory may
    # not be able to start (the page answered 503 then; attacker pass 38).
    @router.get("/")
    async def root(request: Request) -> Response:
        if wants_page(request.headers.get("accept", "")):
            response = Response(page.index, media_type="text/html; charset=utf-8")
            response.headers.update(SECURITY_HEADERS)
        else:
            response = health()
        response.headers["Vary"] = "Accept"  # one URL, two answers: caches must tell them apart
        return response

    def asset(name: str) -> Callable[[], Awaitable[Response]]:
        async def serve() -> Response:
            return Response(page.assets[name], media_type=ASSETS[name], headers=SECURITY_HEADERS)

        return serve

    for name in ASSETS:
        router.add_api_route(f"{PAGE_PREFIX}/{name}", asset(name), methods=["GET"])
    return router
