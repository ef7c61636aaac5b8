"""Payload and topic fuzzing of ingest (hypothesis): hostile messages interleaved
with valid traffic. Zero crashes, every hostile message rejected with a code and
a reason (and dead-lettered), every valid reading stored.

CI runs a short form (400 hostile messages); ``-m slow`` runs 10,000.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from cloud.db import Database
from cloud.devices.storage import Gateway
from cloud.ingest.pipeline import Ingest
from cloud.ingest.storage import DeadLetter
from cloud.timeseries.sqlite import SqliteStore
from protocol.codec import encode
from protocol.messages import DataBatch, Series
from tests.support.data import now_ms
from tests.support.schema import migrate

GW = "fz-gw"
COUNTY = "533103"
TOPIC = f"dh/v1/{COUNTY}/{GW}/data"
CHANNELS = ["data", "event", "health", "birth", "death", "cmd/ack", "cmd", "ack", "x", ""]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
#: Values a float reading can never be.
not_a_float = st.one_of(
    st.text(max_size=10),
    st.booleans(),
    st.lists(st.floats(allow_nan=False), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), max_size=2),
    st.just("NaN"),
    st.just("Infinity"),
)


def _valid_dict(seq: int) -> dict:
    t0 = now_ms() - 3_600_000
    return orjson.loads(
        encode(
            DataBatch(
                gw=GW,
                seq=seq,
                id=f"fuzzbatch{seq:08d}",
                series=[Series(device=f"{GW}.room-1", t0=t0, n=3, values={"t": [1.0, 2.0, 3.0]})],
            )
        )
    )


@st.composite
def mutated_batch(draw: st.DrawFn) -> bytes:
    """A valid batch with exactly one field made invalid."""
    d = _valid_dict(draw(st.integers(0, 10**6)))
    s = d["series"][0]
    which = draw(st.integers(0, 11))
    if which == 0:
        s["values"]["t"][draw(st.integers(0, 2))] = draw(not_a_float)
    elif which == 1:
        s["n"] = draw(
            st.one_of(
                st.integers(min_value=-(2**63), max_value=0), st.integers(4, 10**9), not_a_float
            )
        )
    elif which == 2:
        s["t0"] = draw(
            st.one_of(
                st.integers(min_value=-(2**63), max_value=-1),
                st.integers(min_value=10**14, max_value=2**63 - 1),
                st.text(),
            )
        )
    elif which == 3:
        s["device"] = draw(
            st.text(min_size=0, max_size=200).filter(
                lambda x: not x or not x.isascii() or " " in x or len(x) > 128 or x[0] in "._:-"
            )
        )
    elif which == 4:
        d["gw"] = draw(st.text(max_size=60).filter(lambda x: x != GW))
    elif which == 5:
        d["v"] = draw(json_values.filter(lambda x: x != 1 or isinstance(x, bool)))
    elif which == 6:
        d[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in d))] = draw(json_values)
    elif which == 7:
        del d[draw(st.sampled_from(["gw", "seq", "id", "series"]))]
    elif which == 8:
        d["series"] = draw(
            st.one_of(st.just([]), json_values.filter(lambda x: not isinstance(x, list)))
        )
    elif which == 9:
        s["values"] = {
            draw(
                st.text(max_size=40).filter(
                    lambda m: not m.isidentifier() or not m.islower() or "__" in m or len(m) > 32
                )
            ): [1.0, 2.0, 3.0]
        }
    elif which == 10:
        s["dt"] = draw(
            st.one_of(
                st.integers(min_value=-(2**63), max_value=0),
                st.lists(st.integers(1, 9), min_size=3, max_size=6),
                not_a_float,
            )
        )
    else:
        s["quality"] = {"t": [[draw(st.integers(3, 1000)), 1]]}
    return orjson.dumps(d)


def _topic_ok_for_data(topic: str) -> bool:
    return topic == TOPIC


hostile = st.one_of(
    st.tuples(st.just(TOPIC), st.binary(max_size=300)),
    st.tuples(st.just(TOPIC), json_values.map(orjson.dumps)),
    st.tuples(st.just(TOPIC), mutated_batch()),
    st.tuples(st.just(TOPIC), st.just(b"[" * 5000 + b"]" * 5000)),
    st.tuples(st.just(TOPIC), st.just(b'{"v":1,"gw":"fz-gw","seq":' + b"9" * 400 + b"}")),
    st.tuples(st.just(TOPIC), st.just(b'{"v":1,"pad":"' + b"x" * 300_000 + b'"}')),
    # hostile topics with a valid payload: wildcards, $SYS, unicode, other counties/gateways
    st.tuples(
        st.one_of(
            st.text(max_size=80),
            st.builds(
                lambda c, g, ch: f"dh/v1/{c}/{g}/{ch}",
                st.sampled_from(["533103", "533124", "999999", "+", "#", "", "５３３１０３"]),
                st.sampled_from([GW + "x", "+", "#", "$SYS", "ghost", "", "../etc", "fz-gw/data"]),
                st.sampled_from(CHANNELS),
            ),
        ).filter(lambda t: t != TOPIC and not t.startswith(f"dh/v1/{COUNTY}/{GW}/")),
        st.builds(lambda seq: orjson.dumps(_valid_dict(seq)), st.integers(0, 10**6)),
    ),
    # every channel of our own gateway with garbage
    st.tuples(
        st.sampled_from([f"dh/v1/{COUNTY}/{GW}/{c}" for c in CHANNELS if c]).filter(
            lambda t: not t.endswith(("/birth", "/death"))
        ),
        json_values.map(orjson.dumps),
    ),
)


def _run(tmp_path: Path, examples: int) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}"
    migrate(url)
    loop = asyncio.new_event_loop()
    db = Database(url)
    store = SqliteStore(tmp_path / "ts.db")
    tasks: list[asyncio.Task[None]] = []

    async def setup() -> Ingest:
        await store.open()
        async with db.transaction() as s:
            s.add(Gateway(id=GW, county=COUNTY, name=GW, site="s", mqtt_password_hash="x"))

        async def no_ack(_t: str, _p: bytes) -> None:
            return None

        ingest = Ingest(db, store, no_ack, linger_s=0.005)
        tasks.append(loop.create_task(ingest.run_writer()))
        return ingest

    ingest = loop.run_until_complete(setup())
    state = {"valid": 0, "hostile": 0}
    t_base = now_ms() - 80 * 86_400_000

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile)
    def one(message: tuple[str, bytes]) -> None:
        topic, payload = message
        error = loop.run_until_complete(ingest.handle(topic, payload))
        assert error is not None, f"accepted: {topic!r} {payload[:200]!r}"
        assert error.code and error.reason and error.code != "internal", error
        state["hostile"] += 1
        i = state["valid"]
        valid = DataBatch(
            gw=GW,
            seq=i,
            id=f"valid{i:010d}",
            series=[
                Series(device=f"{GW}.room-9", t0=t_base + i * 10_000, n=5, values={"t": [1.0] * 5})
            ],
        )
        assert loop.run_until_complete(ingest.handle(TOPIC, encode(valid))) is None
        state["valid"] += 1

    try:
        one()
        loop.run_until_complete(asyncio.wait_for(ingest.drained(), 120))

        async def check() -> tuple[int, int]:
            async with db.session() as s:
                dead = (await s.execute(select(func.count()).select_from(DeadLetter))).scalar_one()
            return dead, await store.count("cold_room", f"{GW}.room-9")

        dead, stored = loop.run_until_complete(check())
        assert stored == state["valid"] * 5  # valid traffic stored in full
        assert dead >= state["hostile"]  # every rejection dead-lettered with its reason
        assert ingest.metrics.rejects.total() >= state["hostile"]
    finally:
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(store.close())
        loop.run_until_complete(db.dispose())
        loop.close()


def test_fuzz_ingest_short(tmp_path: Path) -> None:
    _run(tmp_path, int(os.environ.get("DEHONG_FUZZ_EXAMPLES", "400")))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fuzz_ingest_10000(tmp_path: Path) -> None:
    _run(tmp_path, 10_000)
