"""Microcontroller node simulator (`dehong sim mcu`): nodes speaking the
firmware_bridge protocol over a pty pair (RS-485, polled) and over UDP (signed push).

- `node.SimNode`: one node; its message dispatch is the table `SimNode.handlers`
  (message type -> handler), so the OTA bootloader model adds its own entries.
- `bus.SerialNodeBus`: several nodes on one line (multi-drop RS-485).
- `line.PacedLine`: a pty pair paced like a real line (10 bits per byte + turnaround).
- `udp.UdpNode`: a node on Wi-Fi pushing signed frames with retransmission.

The OTA side of a node (A/B slots, trial boot, rollback, fault injection) is
`bootloader.NodeModel`; `ota_node.PtyNode` / `ota_node.UdpNode` run it on a pty or
a UDP port for the OTA tests and `dehong bench mcu-ota`.
"""
