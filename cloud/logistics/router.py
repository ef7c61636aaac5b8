"""The logistics routers, included under ``/api/v1`` by the app; each sub-package
keeps its own. ``install(app)`` adds what lives outside ``/api/v1`` (pages, assets)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from cloud.logistics.console.router import install as install_console
from cloud.logistics.console.router import router as console_router

router = APIRouter()
router.include_router(console_router)


def install(app: FastAPI) -> None:
    """The pages and static files of the logistics packages (outside ``/api/v1``)."""
    install_console(app)
