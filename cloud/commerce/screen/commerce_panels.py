"""The e-commerce panels, read through ``cloud.commerce.indicators`` (the programme's
indicators, defined in ``cloud/commerce/README.md``): the catalogue names the
indicator, this module asks the indicator API for it; no second definition here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud.commerce.screen.catalogue import Panel
    from cloud.commerce.screen.runner import Context, PanelData

BEIJING = timezone(timedelta(hours=8))


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%Y-%m")


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    return float(v) if isinstance(v, Decimal | int | float) else float(str(v))


async def run_commerce(
    mod: Any, panel: Panel, ctx: Context, data: PanelData, span: tuple[int, int]
) -> PanelData:
    start, end = span
    counties = ctx.counties
    if panel.id == "top_products":
        rows = await mod.top_products(
            ctx.session,
            counties=counties,
            start=datetime.fromtimestamp(start / 1000, UTC),
            end=datetime.fromtimestamp(end / 1000, UTC),
            limit=panel.limit or 8,
        )
        for r in rows:
            name = _get(r, "name") or _get(r, "product") or _get(r, "gtin")
            value = _get(r, "online_retail_sales") or _get(r, "amount")
            data.rows.append({"product": str(name), "value": _num(value)})
        data.value = float(len(data.rows))
    elif panel.id == "sales_trend":
        daily = getattr(mod, "sales_per_day", None) or mod.orders_per_day
        rows = await daily(
            ctx.session,
            counties=counties,
            start=datetime.fromtimestamp(start / 1000, UTC),
            end=datetime.fromtimestamp(end / 1000, UTC),
        )
        for r in rows:
            day = _get(r, "day")
            t = (
                int(datetime.fromisoformat(str(day)).replace(tzinfo=BEIJING).timestamp() * 1000)
                if day is not None
                else int(_get(r, "time"))
            )
            value = _get(r, "online_retail_sales")
            if value is None:
                value = _get(r, "amount") or _get(r, "order_count")
            data.rows.append({"time": t, "value": _num(value)})
        data.value = float(len(data.rows))
    else:
        group = ["county"] if "county" in panel.group else []
        rows = await mod.indicators(
            ctx.session,
            counties=counties,
            start_month=_month(start),
            end_month=_month(end - 1),
            group_by=group,
        )
        if group:
            for r in rows:
                data.rows.append({"county": _get(r, "county"), "value": _num(_get(r, panel.field))})
            data.value = float(len(data.rows))
        else:
            data.value = sum(_num(_get(r, panel.field)) or 0.0 for r in rows)
    data.newest_ms = ctx.now_ms if data.rows or data.value is not None else None
    return data
