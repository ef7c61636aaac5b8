"""Node OTA: the gateway offers a signed image to a node and moves it in chunks.

- :mod:`.stream`: the transfer stream (image, then manifest and signature) and its id;
- :mod:`.sender`: the gateway's side (bursts with cumulative acks, backoff, resume
  after power loss, commit, boot report and confirmation) over any :class:`~.sender.OtaLink`;
- :mod:`.link`: OtaLinks over a serial line (pyserial, or a pty) and over UDP;
- :mod:`.events`: the event log.

The messages are those of :mod:`firmware_bridge.protocol` (OTA_OFFER, OTA_CHUNK,
OTA_CHUNK_ACK, OTA_COMMIT, BOOT_REPORT, POLL, ACK). The node side (A/B slots,
trial boot, rollback) is modelled in ``simulators/mcu/bootloader.py``.
"""
