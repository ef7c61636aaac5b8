"""supervision (issue 15): publications immutable at the database; the programme's four lines

Publications (信息公开) have no UPDATE or DELETE path: a trigger refuses both, on
PostgreSQL and SQLite alike. A correction is a new row (the next version, with its
reason). The four budget lines of the 600 万元 programme are seeded here (the
prefecture's, 533100), amounts in whole fen.

Revision ID: 1051
Revises: 1050
Create Date: 2026-12-04 17:12:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1051"
down_revision: str | None = "1050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "supervision_publications"
MESSAGE = "supervision_publications is immutable: publish a correction as a new version"

#: (code, 中文, English, fen, systems): the programme's lines as the seed states them
LINES = (
    ("1", "电子商务公共服务中心", "E-commerce public-service centre", 130_0000_00,
     ["cloud/services (公共服务中心场地、服务站、培训)", "/h5 公共服务 H5 站点"]),
    ("2", "农村电子商务信息系统", "Rural e-commerce information systems", 240_0000_00,
     ["cloud/commerce 大数据 (网络零售额、包裹、活跃网店)", "cloud/services 公共服务信息系统",
      "cloud/logistics 物流信息系统"]),
    ("3", "区域公共品牌及质量溯源系统", "Regional public brand and quality traceability",
     180_0000_00, ["cloud/trace 质量溯源 (批次、EPCIS、合格证、品牌)", "cloud/resolver 扫码页"]),
    ("4", "项目监督审核机制", "Programme supervision and review", 50_0000_00,
     ["cloud/supervision 监督审核 (预算、里程碑、月报、督查、信息公开)"]),
)  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION supervision_publications_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION supervision_publications_immutable()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION supervision_publications_immutable()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    lines = sa.table(
        "supervision_lines",
        sa.column("county", sa.String),
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("name_en", sa.String),
        sa.column("amount_fen", sa.BigInteger),
        sa.column("systems", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("created_by", sa.String),
    )
    from datetime import UTC, datetime

    now = datetime(2026, 12, 4, tzinfo=UTC)
    op.bulk_insert(
        lines,
        [
            {"county": "533100", "code": c, "name": n, "name_en": e, "amount_fen": fen,
             "systems": systems, "created_at": now, "created_by": "migration:1051"}
            for c, n, e, fen, systems in LINES
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.execute("DELETE FROM supervision_lines WHERE created_by = 'migration:1051'")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {TABLE}_no_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER {TABLE}_no_update ON {TABLE}")
        op.execute("DROP FUNCTION supervision_publications_immutable()")
    else:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER {TABLE}_no_{verb}")
