"""Firmware for MCU nodes behind gateways (issue 16): signed images and staged rollouts.

- images are uploaded with their manifest and Ed25519 signature and stored only
  when the signature verifies under a trusted key (``DEHONG_FIRMWARE_KEYS``);
- a rollout releases an image to a canary node, then a percentage, then all; it
  stops by itself when the share of failed nodes passes its threshold;
- gateways fetch their assignments, download the image (and verify it again),
  offer it to their nodes, and report each node's state.

Routes under ``/api/v1/firmware`` (:mod:`.router`); permissions ``firmware:read``
and ``firmware:write``; every record belongs to a county.
"""
