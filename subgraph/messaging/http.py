"""HTTP routes for the AsyncAPI document: the rendered page, JSON, YAML and the page's assets."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from subgraph.messaging.asyncapi import ASSETS_PATH, document_html, document_text
from subgraph.settings import Settings

STATIC = Path(__file__).parent / "static"
ASSET_FILES = ("asyncapi-standalone.js", "asyncapi.css")


def asyncapi_routes(settings: Settings) -> list[ControllerRouterHandler]:
    """`GET /asyncapi` (HTML), `/asyncapi.json`, `/asyncapi.yaml` and the renderer's assets."""

    @get("/asyncapi", include_in_schema=False, sync_to_thread=False)
    def page() -> Response[str]:
        return Response(document_html(settings), media_type="text/html; charset=utf-8")

    @get("/asyncapi.json", include_in_schema=False, sync_to_thread=False)
    def as_json() -> Response[str]:
        return Response(document_text(settings, "json"), media_type="application/json")

    @get("/asyncapi.yaml", include_in_schema=False, sync_to_thread=False)
    def as_yaml() -> Response[str]:
        return Response(
            document_text(settings, "yaml"), media_type="application/yaml; charset=utf-8"
        )

    assets = create_static_files_router(
        path=ASSETS_PATH, directories=[STATIC], include_in_schema=False, name="asyncapi-assets"
    )
    return [page, as_json, as_yaml, assets]
