"""Microcontroller node simulator (`dehong sim mcu`): nodes speaking the
firmware_bridge protocol over a pty pair (RS-485, polled) and over UDP (signed push).

- `node.SimNode`: one node; its message dispatch is the table `SimNode.handlers`
  (message type -> handler), so the OTA bootloader model adds its own entries.
- `bus.SerialNodeBus`: several nodes on one line (multi-drop RS-485).
- `line.PacedLine`: a pty pair paced like a real line (10 bits per byte + turnaround).
- `udp.UdpNode`: a node on Wi-Fi pushing signed frames with retransmission.
"""
