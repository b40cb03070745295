"""`topicclf serve`: an ASGI application (FastAPI on Starlette) run by uvicorn.

Native API: POST /tag (and /models/{name}/tag), GET /health, GET /models[/{name}]; a web
page for browsers at / (page.py, files in static/); Annif-compatible API under /v1;
GET /openapi.json and an offline docs page at /docs.
Importing this package imports FastAPI and uvicorn: the CLI does it inside `serve` only.
"""

from __future__ import annotations

from topicclf.server.app import AppSettings, create_app
from topicclf.server.models import ModelSpec, ServedModel, load_models, parse_model_specs
from topicclf.server.run import ServeOptions, base_url, bind, serve, serve_in_thread

__all__ = [
    "AppSettings",
    "ModelSpec",
    "ServeOptions",
    "ServedModel",
    "base_url",
    "bind",
    "create_app",
    "load_models",
    "parse_model_specs",
    "serve",
    "serve_in_thread",
]
