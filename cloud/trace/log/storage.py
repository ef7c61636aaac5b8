"""The log's tables: leaves, the hashes of complete subtrees, the size, signed heads.

- ``trace_log_leaves``: one row per leaf, ``idx`` 0, 1, 2, ... without gaps; ``event_id``
  is the leaf's key (an event's eventID; its error declaration has a leaf of its own
  keyed ``<eventID>#errorDeclaration``), unique; ``leaf_hash`` = SHA-256(0x00 ‖
  RFC 8785 canonical JSON of the event as stored).
- ``trace_log_nodes``: the hash of every **perfect subtree** of level >= 1, keyed
  ``(level, idx)`` (it covers leaves ``[idx * 2**level, (idx + 1) * 2**level)``),
  written in the same transaction as the leaf that completes it. A leaf completes one
  such subtree on average, so the table holds about as many rows as the leaves, and
  any proof or tree head reads at most ``2 * log2(n)`` rows by primary key.
- ``trace_log_state``: one row (id 1) holding the tree size. Appending updates it
  first (``size = size + n``), which reserves the leaf indices and holds a row lock
  until the appending transaction ends: appends are serialised, indices have no gaps,
  and a rolled-back capture leaves no leaf behind.
- ``trace_log_heads``: signed tree heads (C2SP checkpoints), one per tree size signed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.base import Base, UTCDateTime, utcnow

#: The one row of ``trace_log_state``.
STATE_ID = 1


class LogLeaf(Base):
    __tablename__ = "trace_log_leaves"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(Text, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogNode(Base):
    __tablename__ = "trace_log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogState(Base):
    __tablename__ = "trace_log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class LogHead(Base):
    """A signed tree head: the checkpoint note, by the key ``key_id`` (8 hex digits)."""

    __tablename__ = "trace_log_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
