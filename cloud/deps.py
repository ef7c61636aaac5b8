"""FastAPI dependencies shared by every router: settings, database session, time-series store.

Each is ``async`` (FastAPI runs a plain ``def`` dependency in a worker thread: a
thread hop per dependency per request for reading an attribute)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database
from cloud.settings import Settings
from cloud.timeseries import TimeSeriesStore


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_tsdb(request: Request) -> TimeSeriesStore:
    return request.app.state.tsdb  # type: ignore[no-any-return]


async def get_session(
    db: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """A session per request; a route that writes commits itself."""
    async with db.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TsdbDep = Annotated[TimeSeriesStore, Depends(get_tsdb)]
