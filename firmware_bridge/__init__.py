"""The bridge between microcontroller sensor nodes (RS-485, UDP) and the gateway.

``protocol`` frames the node protocol, ``signing`` signs and verifies firmware
manifests (Ed25519), ``ota`` moves signed images to nodes. This package imports
nothing from ``cloud``, ``simulators``, ``bench`` or ``dehong``.
"""
