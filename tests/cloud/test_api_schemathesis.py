"""API fuzzing with schemathesis against our OpenAPI document: no 5xx and no
response that violates its documented schema, on every operation, as a prefecture
admin (who may call everything). The app runs in-process (ASGI) on a fresh SQLite
database and the embedded time-series store; commands go to a recording publisher.

CI runs a few examples per operation; ``DEHONG_SCHEMATHESIS_EXAMPLES`` raises it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from cloud.app import create_app
from cloud.auth.principal import Role
from cloud.auth.service import hash_password, issue_token
from cloud.auth.storage import User
from cloud.db import Database, utcnow
from cloud.resolver.serials.keys import ensure_key as ensure_serials_key
from cloud.settings import Settings
from cloud.trace.log.keys import ensure_key
from tests.support.api import PII_KEYS, cheap_argon2, seed_timeseries
from tests.support.schema import migrate

EXAMPLES = int(os.environ.get("DEHONG_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    # Argon2 at its smallest cost: the fuzzer logs in and changes passwords dozens of
    # times, each a 64 MiB hash at the shipped cost; the code path is the same.
    with pytest.MonkeyPatch.context() as mp:
        cheap_argon2(mp)
        yield _api(tmp_path_factory)


def _api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{tmp / 'api.db'}"
    migrate(url)
    secret = secrets.token_urlsafe(48)
    settings_ = Settings(
        database_url=url,
        jwt_secret=secret,
        tsdb_path=tmp / "ts.db",
        mosquitto_dir=tmp / "mosquitto",
        mosquitto_pid_file=None,
        keys_dir=tmp / "keys",
        filestore_dir=tmp / "files",
        pii_keys=PII_KEYS,  # personal data's master key (cloud/pii), as a deployment sets it
    )
    ensure_key(settings_)  # the trace log's key, as `dehong cloud init-db` makes it
    ensure_serials_key(settings_)  # the serials' code key, likewise

    async def seed() -> User:
        db = Database(url)
        async with db.transaction() as s:
            user = User(
                username="fuzz-admin",
                password_hash=hash_password("fuzz-admin-password"),
                role=Role.PREFECTURE_ADMIN.value,
                county="533100",
                display_name="",
                disabled=False,
                created_at=utcnow(),
            )
            s.add(user)
        await db.dispose()
        from cloud.timeseries.sqlite import SqliteStore

        store = SqliteStore(tmp / "ts.db")
        await store.open()
        await seed_timeseries(store)
        await store.close()
        return user

    user = asyncio.run(seed())
    token, _ = issue_token(user, secret, 3600)
    app = create_app(settings_)

    async def publish(_topic: str, _payload: bytes) -> None:
        return None

    app.state.command_publisher = publish
    return app, {"Authorization": f"Bearer {token}"}


def test_no_server_errors_and_responses_match_the_schema(api) -> None:  # type: ignore[no-untyped-def]
    app, headers = api
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            run()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc
