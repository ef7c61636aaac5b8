"""Node OTA: the gateway offers a signed image to a node and moves it in chunks.

- :mod:`.messages`: the OTA exchange (offer, chunk, chunk ack, commit, boot report);
- :mod:`.chunks`: chunking, the per-chunk CRC-32, the received-chunk bitmap;
- :mod:`.sender`: the gateway's side (selective repeat, backoff, resume, commit,
  waiting for the boot report) over any :class:`~.sender.OtaLink`;
- :mod:`.events`: the event log both sides write.

The node side (A/B slots, trial boot, rollback) is modelled in
``simulators/mcu/bootloader.py``.
"""
