"""Helpers of the OTA tests: signed images, a node on a pty, a gateway link to it."""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

from firmware_bridge.ota.events import EventLog
from firmware_bridge.ota.link import SerialLink, UdpLink
from firmware_bridge.ota.sender import OtaConfig, OtaResult, OtaSender
from firmware_bridge.ota.stream import OtaImage
from firmware_bridge.signing import generate_keypair, manifest_for_image, sign_manifest
from simulators.mcu.bootloader import NodeModel
from simulators.mcu.ota_node import PtyNode, UdpNode

HW = "esp32c3-soil-v2"
NODE = 7


@dataclass
class Keys:
    private: bytes
    public: bytes


def keys() -> Keys:
    private, public = generate_keypair()
    return Keys(private, public)


def firmware(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def signed(key: Keys, image: bytes, version: str, *, target: str = HW, **kw: object) -> OtaImage:
    m = manifest_for_image(image, target=target, version=version, **kw)  # type: ignore[arg-type]
    return OtaImage(image, m.to_bytes(), sign_manifest(key.private, m))


def node(key: Keys, *, version: str = "1.0.0", size: int = 4096, **kw: object) -> NodeModel:
    return NodeModel(
        hardware_id=HW, public_keys=[key.public], image=firmware(size, 99), version=version,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


FAST = OtaConfig(timeout=0.1, max_timeout=0.8, max_silence=15, boot_timeout=20)


@contextlib.asynccontextmanager
async def pty_link(model: NodeModel) -> AsyncIterator[SerialLink]:
    async with PtyNode(model, NODE) as sim:
        link = SerialLink(sim.port, NODE)
        try:
            yield link
        finally:
            link.close()


@contextlib.asynccontextmanager
async def udp_link(model: NodeModel, loss: float = 0.0, seed: int = 1) -> AsyncIterator[UdpLink]:
    async with UdpNode(model, NODE, loss=loss, seed=seed) as sim:
        link = await UdpLink("127.0.0.1", sim.port, NODE).open()
        try:
            yield link
        finally:
            link.close()


async def update(
    model: NodeModel, image: OtaImage, config: OtaConfig = FAST
) -> tuple[OtaResult, EventLog]:
    events = EventLog()
    async with pty_link(model) as link:
        result = await OtaSender(link, NODE, image, config=config, events=events).run()
    return result, events


def assert_bootable_signed(model: NodeModel, image_of_version: dict[str, bytes]) -> None:
    """The node runs a confirmed image whose bytes are exactly a signed one's."""
    f = model.flash
    assert f.trial_slot is None
    version = str(f.versions[f.active])
    expected = image_of_version[version]
    assert hashlib.sha256(f.slots[f.active]).digest() == hashlib.sha256(expected).digest()
