"""Remote commands on ``cmd``, answered on ``cmd/ack``.

=================  ==========================================================
name               what it does
=================  ==========================================================
``ping``           ``{"pong": now_ms, "session": n}``
``get-config``     the running config (without secrets) and its hash
``set-config``     ``args.config``: a whole new config; or ``args.sections``:
                   some live sections replaced, the rest kept as running
                   (``{"profiles": [...]}``, what the catalog pushes).
                   Validated (errors with their location); only ``modbus``,
                   ``ble``, ``rules``, ``profiles`` and ``health_interval_s``
                   may differ (the rest needs a restart on site); applied
                   atomically: the drivers are rebuilt (when ``modbus`` or
                   ``ble`` changed), and if one fails to start the old config
                   is restored and running again (``failed``, "rolled
                   back"); on success the config file is replaced atomically.
``restart-driver`` ``args.driver``: stop and start one driver (``modbus``)
``buffer-stats``   depth, oldest reading, bytes, counters of the buffer
``set-lot``        ``args.camera``, ``args.lot``: the lot id a camera stamps on
                   its inspections (wins over the QR code; null clears it)
``inspect``        ``args.camera``: inspect now (as its trigger would)
=================  ==========================================================

Expired commands are answered ``expired`` and not run (see the session).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from edge.clock import now_ms
from edge.config import ConfigError, parse_config
from protocol.messages import CommandAck, CommandMessage

if TYPE_CHECKING:
    from edge.gateway import Gateway

log = logging.getLogger(__name__)

#: Config sections a remote set-config may change; the others need a restart on site.
LIVE_SECTIONS = ("modbus", "ble", "rules", "profiles", "health_interval_s")


class CommandFailed(Exception):
    """The command ran and failed; ``status`` is the ack status to send."""

    def __init__(self, status: str, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


class Commands:
    """Runs commands against one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "ping": self.ping,
            "get-config": self.get_config,
            "set-config": self.set_config,
            "restart-driver": self.restart_driver,
            "buffer-stats": self.buffer_stats,
            "set-lot": self.set_lot,
            "inspect": self.inspect,
        }

    async def __call__(self, cmd: CommandMessage) -> CommandAck:
        gw = self.gateway.id
        handler = self.handlers.get(cmd.name)
        if handler is None:
            return CommandAck(
                gw=gw, id=cmd.id, ts=now_ms(), status="rejected",
                detail=f"unknown command {cmd.name!r}; this gateway supports: "
                + ", ".join(self.handlers),
            )  # fmt: skip
        try:
            result = await handler(cmd.args)
        except CommandFailed as exc:
            return CommandAck(
                gw=gw, id=cmd.id, ts=now_ms(), status=exc.status,  # type: ignore[arg-type]
                detail=exc.detail[:500],
            )  # fmt: skip
        return CommandAck(gw=gw, id=cmd.id, ts=now_ms(), status="done", result=result)

    async def ping(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"pong": now_ms(), "session": self.gateway.session.session}

    async def get_config(self, args: dict[str, Any]) -> dict[str, Any]:
        cfg = self.gateway.config
        data = cfg.model_dump(mode="json", exclude_none=True)
        data["mqtt"].pop("password", None)
        return {"config": data, "hash": cfg.canonical_hash()}

    async def set_config(self, args: dict[str, Any]) -> dict[str, Any]:
        old = self.gateway.config
        raw = args.get("config")
        sections = args.get("sections")
        if (raw is None) == (sections is None):
            raise CommandFailed(
                "rejected",
                "args: give either config (the whole new config) or sections (live sections "
                f"to replace: {', '.join(LIVE_SECTIONS)})",
            )
        if sections is not None:
            raw = self._with_sections(old, sections)
        if not isinstance(raw, dict):
            raise CommandFailed("rejected", "args.config: give the whole new config as a mapping")
        if "mqtt" in raw and "password" not in raw["mqtt"] and old.mqtt.password is not None:
            raw = {**raw, "mqtt": {**raw["mqtt"], "password": old.mqtt.password}}
        try:
            new = parse_config(raw, "set-config")
        except ConfigError as exc:
            raise CommandFailed("rejected", "invalid config: " + "; ".join(exc.errors)) from None
        fixed = {
            k for k in type(old).model_fields if k not in LIVE_SECTIONS
            and getattr(old, k) != getattr(new, k)
        }  # fmt: skip
        if fixed:
            raise CommandFailed(
                "rejected",
                f"{', '.join(sorted(fixed))}: cannot change remotely; only "
                f"{', '.join(LIVE_SECTIONS)} can. Change the others on site and restart",
            )
        await self.gateway.apply_config(new)
        return {"hash": new.canonical_hash()}

    @staticmethod
    def _with_sections(old: Any, sections: Any) -> dict[str, Any]:
        """The running config with ``sections`` replaced (secrets kept)."""
        if not isinstance(sections, dict) or not sections:
            raise CommandFailed(
                "rejected", "args.sections: give a mapping of section name to its new value"
            )
        other = sorted(set(sections) - set(LIVE_SECTIONS))
        if other:
            raise CommandFailed(
                "rejected",
                f"args.sections: {', '.join(map(str, other))}: cannot change remotely; only "
                f"{', '.join(LIVE_SECTIONS)} can",
            )
        current: dict[str, Any] = old.model_dump(mode="json", exclude_none=True)
        return {**current, **sections}

    async def restart_driver(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("driver")
        names = [d.name for d in self.gateway.drivers]
        if name not in names:
            raise CommandFailed("rejected", f"args.driver: {name!r} is not running; one of {names}")
        await self.gateway.restart_driver(str(name))
        return {"driver": name, "status": self.gateway.device_status()}

    async def buffer_stats(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.gateway.buffer_stats()

    def _camera(self, args: dict[str, Any]) -> Any:
        from edge.drivers.camera import CameraDriver

        cams = {d.config.local_id: d for d in self.gateway.drivers if isinstance(d, CameraDriver)}
        name = args.get("camera")
        if name not in cams:
            raise CommandFailed(
                "rejected", f"args.camera: {name!r} is not a camera of this gateway; one of "
                f"{sorted(cams)}",
            )  # fmt: skip
        return cams[name]

    async def set_lot(self, args: dict[str, Any]) -> dict[str, Any]:
        cam = self._camera(args)
        lot = args.get("lot")
        if lot is not None and (not isinstance(lot, str) or not 0 < len(lot) <= 64):
            raise CommandFailed("rejected", "args.lot: give 1-64 characters, or null to clear")
        cam.set_lot(lot)
        return {"camera": cam.config.local_id, "lot": lot}

    async def inspect(self, args: dict[str, Any]) -> dict[str, Any]:
        cam = self._camera(args)
        cam.trigger()
        return {"camera": cam.config.local_id, "triggered": True}
