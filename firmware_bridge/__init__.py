"""The bridge between microcontroller sensor nodes (RS-485, UDP) and the gateway.

`firmware_bridge.protocol` is the node protocol (framing and message types, see
PROTOCOL.md); it stands on nothing but the standard library, so the gateway driver
(edge/drivers/mcu.py), the node simulator and the OTA code all share one codec.
`firmware_bridge.signing` signs and verifies firmware manifests (Ed25519) and
`firmware_bridge.ota` moves signed images to nodes.
This package must not import cloud, simulators, bench or dehong (check_layers.py).
"""
