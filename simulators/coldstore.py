"""A Modbus TCP cold-store controller: several cold rooms on one unit id.

The physics is deliberately simple but shaped like a real room in Dehong
(ambient around 28 °C, humid):

- first-order heat leak toward ambient (a slow one through the walls, a fast
  one while the door is open),
- an on/off compressor with hysteresis around the setpoint,
- door openings as a Poisson process with exponentially distributed durations,
- relative humidity relaxing toward the commodity's target (humidifier /
  dehumidifier), pulled toward ambient while the door is open and dried a
  little by a running compressor,
- small Gaussian sensor noise, quantized to the 0.1 resolution of the registers.

Everything random comes from one ``random.Random(seed)``, so a seed gives the
same run. :meth:`ColdStoreSimulator.step` advances the model without a server,
which is what the unit tests use.

Register map (unit id 1), per room ``i`` (0-based), ``base = i * 16``:

=============  ==========  ==================================================
address        function    content
=============  ==========  ==================================================
base+0         holding     temperature, int16, 0.1 °C
base+1         holding     relative humidity, uint16, 0.1 %RH
base+2         holding     setpoint, int16, 0.1 °C (writable, FC 6/16)
base+3..4      holding     reading counter, uint32, big-endian words (ABCD)
base+0         coil        door open
base+1         coil        compressor running
base+15        coil        local alarm relay (writable, FC 5/15)
=============  ==========  ==================================================

pymodbus is imported only in :meth:`ColdStoreSimulator.start`, so the model
itself works without it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, replace
from typing import Any

log = logging.getLogger(__name__)

#: Registers (and coils) reserved per room.
ROOM_STRIDE = 16
#: Unit id of the controller.
UNIT_ID = 1
#: Register offsets within a room block.
REG_TEMPERATURE = 0
REG_HUMIDITY = 1
REG_SETPOINT = 2
REG_COUNTER = 3  # and 4 (uint32, ABCD)
COIL_DOOR = 0
COIL_COMPRESSOR = 1
#: The room's local alarm relay (horn/beacon): the one coil a gateway may write.
COIL_ALARM = 15

AMBIENT_C = 28.0
AMBIENT_RH = 80.0


@dataclass(frozen=True, slots=True)
class RoomProfile:
    """What one cold room holds and how it behaves."""

    name: str
    commodity: str
    setpoint_c: float
    #: Relative humidity the room's humidity control aims for, %.
    rh_target: float
    #: Half-width of the compressor's hysteresis band, °C.
    band_c: float = 0.5
    #: Door openings per hour (Poisson rate) and their mean duration, s.
    door_rate_per_h: float = 4.0
    door_mean_s: float = 40.0
    #: Net cooling rate of a running compressor, °C/s.
    cooling_c_per_s: float = 0.012
    #: Time constant of the heat leak through the walls (door closed), s.
    leak_tau_s: float = 10_800.0
    #: Time constant of warming toward ambient while the door is open, s.
    door_tau_s: float = 600.0
    #: Standard deviation of the sensor noise.
    noise_c: float = 0.05
    noise_rh: float = 0.3


#: Commodity profiles of the prefecture (temperatures and RH from storage practice).
DEFAULT_ROOMS: tuple[RoomProfile, ...] = (
    RoomProfile("room-0", "lychee", setpoint_c=1.0, rh_target=92.0, band_c=0.5),
    # mango is chilling-sensitive: never below ~10 °C, so a narrow band
    RoomProfile("room-1", "mango", setpoint_c=11.0, rh_target=88.0, band_c=0.4),
    RoomProfile("room-2", "green coffee", setpoint_c=17.5, rh_target=58.0, band_c=1.0),
    RoomProfile("room-3", "tea", setpoint_c=4.0, rh_target=45.0, band_c=0.8, door_rate_per_h=2.0),
    RoomProfile("room-4", "lemon", setpoint_c=12.0, rh_target=87.0, band_c=0.6),
    RoomProfile("room-5", "dendrobium", setpoint_c=4.0, rh_target=85.0, band_c=0.5),
    RoomProfile("room-6", "rice", setpoint_c=15.0, rh_target=62.0, band_c=1.0, door_rate_per_h=1.0),
)


def default_rooms(count: int) -> list[RoomProfile]:
    """``count`` rooms from the commodity profiles, cycling with fresh names if needed."""
    if count < 1:
        raise ValueError(f"rooms must be at least 1, got {count}")
    if count > 4096 // ROOM_STRIDE:
        raise ValueError(f"rooms must be at most {4096 // ROOM_STRIDE}, got {count}")
    out = []
    for i in range(count):
        base = DEFAULT_ROOMS[i % len(DEFAULT_ROOMS)]
        out.append(replace(base, name=f"room-{i}"))
    return out


@dataclass(frozen=True, slots=True)
class RoomState:
    """One room as its registers report it (rounded to 0.1), plus the true air temperature."""

    temperature: float
    humidity: float
    setpoint: float
    door_open: bool
    compressor_on: bool
    counter: int
    true_temperature: float


class _Room:
    """Mutable physical state of one room."""

    def __init__(self, profile: RoomProfile, rng: random.Random) -> None:
        self.profile = profile
        self.setpoint = profile.setpoint_c
        self.temp = profile.setpoint_c + rng.uniform(-profile.band_c, profile.band_c)
        self.rh = profile.rh_target + rng.uniform(-2.0, 2.0)
        self.compressor = self.temp > profile.setpoint_c
        self.door_left_s = 0.0
        self.alarm_relay = False
        self.counter = 0
        self.reported_temp = round(self.temp, 1)
        self.reported_rh = round(self.rh, 1)

    def step(self, dt: float, rng: random.Random) -> None:
        p = self.profile
        # door: Poisson arrivals, exponential durations (at least 5 s)
        if self.door_left_s > 0:
            self.door_left_s = max(0.0, self.door_left_s - dt)
        elif rng.random() < 1.0 - math.exp(-p.door_rate_per_h / 3600.0 * dt):
            self.door_left_s = max(5.0, rng.expovariate(1.0 / p.door_mean_s))
        door = self.door_left_s > 0
        # compressor with hysteresis
        if self.temp > self.setpoint + p.band_c:
            self.compressor = True
        elif self.temp < self.setpoint - p.band_c:
            self.compressor = False
        # temperature: leak toward ambient, faster with the door open; compressor cools
        tau = p.door_tau_s if door else p.leak_tau_s
        self.temp += (AMBIENT_C - self.temp) * (1.0 - math.exp(-dt / tau))
        if self.compressor:
            self.temp -= p.cooling_c_per_s * dt
        # humidity: control toward target, ambient air while open, compressor dries
        if door:
            self.rh += (AMBIENT_RH - self.rh) * (1.0 - math.exp(-dt / 120.0))
        else:
            self.rh += (p.rh_target - self.rh) * (1.0 - math.exp(-dt / 900.0))
        if self.compressor:
            self.rh -= 0.002 * dt
        self.rh = min(100.0, max(0.0, self.rh))
        self.counter = (self.counter + 1) & 0xFFFFFFFF
        self.reported_temp = round(self.temp + rng.gauss(0.0, p.noise_c), 1)
        self.reported_rh = round(min(100.0, max(0.0, self.rh + rng.gauss(0.0, p.noise_rh))), 1)

    def state(self) -> RoomState:
        return RoomState(
            temperature=self.reported_temp,
            humidity=self.reported_rh,
            setpoint=round(self.setpoint, 1),
            door_open=self.door_left_s > 0,
            compressor_on=self.compressor,
            counter=self.counter,
            true_temperature=self.temp,
        )

    def registers(self) -> list[int]:
        regs = [0] * ROOM_STRIDE
        regs[REG_TEMPERATURE] = round(self.reported_temp * 10) & 0xFFFF
        regs[REG_HUMIDITY] = round(self.reported_rh * 10) & 0xFFFF
        regs[REG_SETPOINT] = round(self.setpoint * 10) & 0xFFFF
        regs[REG_COUNTER] = (self.counter >> 16) & 0xFFFF
        regs[REG_COUNTER + 1] = self.counter & 0xFFFF
        return regs

    def coils(self) -> list[bool]:
        bits = [False] * ROOM_STRIDE
        bits[COIL_DOOR] = self.door_left_s > 0
        bits[COIL_COMPRESSOR] = self.compressor
        bits[COIL_ALARM] = self.alarm_relay
        return bits


def _int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


class ColdStoreSimulator:
    """Cold rooms behind a Modbus TCP server (unit id 1).

    ``tick_s`` is the simulated time per tick and, when the server runs with
    ``autotick``, also the wall-clock period of the ticks.
    """

    def __init__(
        self,
        rooms: list[RoomProfile] | None = None,
        *,
        seed: int | None = 1,
        tick_s: float = 1.0,
        unit: int = UNIT_ID,
    ) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be positive, got {tick_s}")
        profiles = list(rooms) if rooms is not None else default_rooms(4)
        if not profiles:
            raise ValueError("a cold store needs at least one room")
        self.tick_s = tick_s
        self.unit = unit
        self._rng = random.Random(seed)
        self._rooms = [_Room(p, self._rng) for p in profiles]
        self._hr: list[int] = []
        self._coils: list[bool] = []
        self._snapshot()
        self._server: Any = None
        self._ticker: asyncio.Task[None] | None = None
        self.host: str | None = None
        self.port: int | None = None
        #: Read requests served, by function code (tests count merged requests with it).
        self.requests: dict[int, int] = {}

    # ------------------------------------------------------------------ model

    @property
    def rooms(self) -> list[RoomProfile]:
        return [r.profile for r in self._rooms]

    def room_state(self, index: int) -> RoomState:
        return self._rooms[index].state()

    def step(self, ticks: int = 1) -> None:
        """Advance every room by ``ticks`` ticks of ``tick_s`` each."""
        for _ in range(ticks):
            for room in self._rooms:
                room.step(self.tick_s, self._rng)
        self._snapshot()

    def open_door(self, index: int, duration_s: float) -> None:
        """Force the door of a room open for ``duration_s`` simulated seconds."""
        self._rooms[index].door_left_s = max(self._rooms[index].door_left_s, duration_s)
        self._snapshot()

    def alarm_relay(self, index: int) -> bool:
        """Whether a gateway switched the room's alarm relay on (coil base+15)."""
        return self._rooms[index].alarm_relay

    def set_setpoint(self, index: int, celsius: float) -> None:
        self._rooms[index].setpoint = celsius
        self._snapshot()

    def registers(self) -> list[int]:
        """The holding registers as the server serves them."""
        return list(self._hr)

    def coils(self) -> list[bool]:
        return list(self._coils)

    def _snapshot(self) -> None:
        hr: list[int] = []
        coils: list[bool] = []
        for room in self._rooms:
            hr.extend(room.registers())
            coils.extend(room.coils())
        self._hr = hr
        self._coils = coils

    # ----------------------------------------------------------------- server

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, autotick: bool = True) -> None:
        """Serve Modbus TCP on ``host:port`` (0 picks a free port; see :attr:`port`).

        With ``autotick`` the model advances every ``tick_s`` seconds of wall time;
        without, only :meth:`step` advances it (deterministic tests).
        """
        if self._server is not None:
            raise RuntimeError("simulator already running; stop() it first")
        from pymodbus.server import ModbusTcpServer

        server = ModbusTcpServer(self._device(), address=(host, port))
        await server.serve_forever(background=True)
        sockets = getattr(server.transport, "sockets", None) or []
        if not sockets:
            await server.shutdown()
            raise RuntimeError(f"Modbus server did not report a listening socket on {host}:{port}")
        self._server = server
        self.host = host
        self.port = sockets[0].getsockname()[1]
        if autotick:
            self._ticker = asyncio.create_task(self._tick_forever(), name="coldstore-tick")
        log.info("cold-store simulator: %d rooms on %s:%s", len(self._rooms), host, self.port)

    def _device(self) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        n = len(self._rooms) * ROOM_STRIDE
        return SimDevice(
            id=self.unit,
            simdata=(
                [SimData(0, values=[False] * n, datatype=DataType.BITS)],
                [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                [SimData(0, values=[0] * n, datatype=DataType.REGISTERS)],
                [SimData(0, values=[0] * 16, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    async def start_serial(
        self, port: str, *, baudrate: int = 19200, autotick: bool = True
    ) -> None:
        """Serve Modbus RTU on the serial device ``port`` (a tty, or one end of a
        :class:`simulators.serialpair.SerialPair`, whose ``unplugged`` units get no
        answer, as on a real bus)."""
        if self._server is not None:
            raise RuntimeError("simulator already running; stop() it first")
        from pymodbus.server import ModbusSerialServer

        server = ModbusSerialServer(self._device(), port=port, baudrate=baudrate)
        await server.serve_forever(background=True)
        self._server = server
        self.host = port
        if autotick:
            self._ticker = asyncio.create_task(self._tick_forever(), name="coldstore-tick")
        log.info(
            "cold-store simulator: %d rooms on %s (RTU, unit %d)", len(self._rooms), port, self.unit
        )

    async def stop(self) -> None:
        """Stop serving (connections are dropped); the model keeps its state."""
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise
            self._ticker = None
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()

    async def serve_forever(self, host: str = "127.0.0.1", port: int = 5020) -> None:
        """Run until cancelled (the CLI)."""
        await self.start(host, port)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self.tick_s
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.step()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> Any:
        """Called by pymodbus on every request: serve the current snapshot, accept setpoints."""
        from pymodbus.constants import ExcCodes
        from pymodbus.simulator.simutils import SimUtils

        if set_values is None and function_code in (1, 2, 3, 4):
            self.requests[function_code] = self.requests.get(function_code, 0) + 1
        if function_code in (3, 6, 16, 23):
            if set_values is not None:
                for k, value in enumerate(set_values):
                    addr = address + k
                    room, offset = divmod(addr, ROOM_STRIDE)
                    if offset != REG_SETPOINT or room >= len(self._rooms):
                        return ExcCodes.ILLEGAL_ADDRESS
                    self._rooms[room].setpoint = _int16(int(value)) / 10.0
                self._snapshot()
            registers[: len(self._hr)] = self._hr
        elif function_code in (1, 5, 15):
            if set_values is not None:
                # door and compressor are status; only the alarm relay takes commands
                for k, value in enumerate(set_values):
                    room, offset = divmod(address + k, ROOM_STRIDE)
                    if offset != COIL_ALARM or room >= len(self._rooms):
                        return ExcCodes.ILLEGAL_ADDRESS
                    self._rooms[room].alarm_relay = bool(value)
                self._snapshot()
            packed = SimUtils.bitsToRegisters(self._coils)
            registers[: len(packed)] = packed
        return None
