"""commerce (issue 14): shops, platform-SKU mappings, orders, their lines and events

Revision ID: 0800
Revises: 0303
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base

revision: str = '0800'
down_revision: str | None = '0303'
branch_labels: str | Sequence[str] | None = ("commerce",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('commerce_shops',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_shop_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_commerce_shops_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commerce_shops')),
    sa.UniqueConstraint('channel', 'platform_shop_id', name=op.f('uq_commerce_shops_channel'))
    )
    with op.batch_alter_table('commerce_shops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commerce_shops_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_commerce_shops_org_id'), ['org_id'], unique=False)

    op.create_table('commerce_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('platform_order_id', sa.String(length=64), nullable=False),
    sa.Column('ordered_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('shipped_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dest_city', sa.String(length=64), nullable=True),
    sa.Column('dest_county', sa.String(length=6), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['commerce_shops.id'], name=op.f('fk_commerce_orders_shop_id_commerce_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commerce_orders')),
    sa.UniqueConstraint('channel', 'platform_order_id', name=op.f('uq_commerce_orders_channel'))
    )
    with op.batch_alter_table('commerce_orders', schema=None) as batch_op:
        batch_op.create_index('ix_commerce_orders_county_month', ['county', 'month'], unique=False)
        batch_op.create_index('ix_commerce_orders_dest_county_month', ['dest_county', 'month'], unique=False)
        batch_op.create_index(batch_op.f('ix_commerce_orders_shop_id'), ['shop_id'], unique=False)

    op.create_table('commerce_sku_map',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_commerce_sku_map_product_id_products')),
    sa.ForeignKeyConstraint(['shop_id'], ['commerce_shops.id'], name=op.f('fk_commerce_sku_map_shop_id_commerce_shops')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commerce_sku_map')),
    sa.UniqueConstraint('shop_id', 'sku', name=op.f('uq_commerce_sku_map_shop_id'))
    )
    op.create_table('commerce_order_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=True),
    sa.Column('refund_fen', sa.BigInteger(), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('refund_id', sa.String(length=64), nullable=True),
    sa.Column('at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['commerce_orders.id'], name=op.f('fk_commerce_order_events_order_id_commerce_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commerce_order_events')),
    sa.UniqueConstraint('order_id', 'refund_id', name=op.f('uq_commerce_order_events_order_id'))
    )
    with op.batch_alter_table('commerce_order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commerce_order_events_order_id'), ['order_id'], unique=False)

    op.create_table('commerce_order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('farm', sa.Boolean(), nullable=False),
    sa.Column('local', sa.Boolean(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['commerce_orders.id'], name=op.f('fk_commerce_order_lines_order_id_commerce_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commerce_order_lines'))
    )
    with op.batch_alter_table('commerce_order_lines', schema=None) as batch_op:
        batch_op.create_index('ix_commerce_order_lines_county_month', ['county', 'month'], unique=False)
        batch_op.create_index('ix_commerce_order_lines_order_id', ['order_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('commerce_order_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_commerce_order_lines_order_id')
        batch_op.drop_index('ix_commerce_order_lines_county_month')

    op.drop_table('commerce_order_lines')
    with op.batch_alter_table('commerce_order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commerce_order_events_order_id'))

    op.drop_table('commerce_order_events')
    op.drop_table('commerce_sku_map')
    with op.batch_alter_table('commerce_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commerce_orders_shop_id'))
        batch_op.drop_index('ix_commerce_orders_dest_county_month')
        batch_op.drop_index('ix_commerce_orders_county_month')

    op.drop_table('commerce_orders')
    with op.batch_alter_table('commerce_shops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commerce_shops_org_id'))
        batch_op.drop_index(batch_op.f('ix_commerce_shops_county'))

    op.drop_table('commerce_shops')
