"""FastAPI dependencies shared by every router: settings, database session, time-series store,
the personal-data keyring.

Each is ``async`` (FastAPI runs a plain ``def`` dependency in a worker thread: a
thread hop per dependency per request for reading an attribute)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database
from cloud.errors import ApiError
from cloud.pii import Keyring, PiiKeyError, keyring_for
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


async def get_keyring(settings: SettingsDep) -> Keyring:
    """The keyring of personal data (cloud/pii); 503 when its keys are unusable."""
    try:
        return keyring_for(
            settings.pii_keys.get_secret_value(), settings.pii_key_file, demo=settings.demo
        )
    except PiiKeyError as exc:
        raise ApiError(503, f"personal data is unavailable: {exc}") from None


KeyringDep = Annotated[Keyring, Depends(get_keyring)]
