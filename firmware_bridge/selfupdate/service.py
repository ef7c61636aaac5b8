"""Restarting the gateway's service so that it runs what ``current`` points at.

On a gateway that is systemd (``dehong-edge.service`` runs
``/opt/dehong/current/venv/bin/dehong edge run``; systemd resolves the link at each
start). Anything with a ``restart()`` will do: the end-to-end test runs the gateway
as a child process started through the same link.
"""

from __future__ import annotations

import subprocess
from typing import Protocol


class Service(Protocol):
    def restart(self) -> None:
        """Stop the running gateway (cleanly: SIGTERM) and start it again."""


class ServiceError(RuntimeError):
    pass


class SystemdService:
    def __init__(self, unit: str = "dehong-edge.service") -> None:
        self.unit = unit

    def restart(self) -> None:
        proc = subprocess.run(
            ["systemctl", "restart", self.unit], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            # a unit that fails to start is the health check's business; systemctl
            # itself failing (no systemd, no such unit) is not
            msg = (proc.stderr or proc.stdout).strip()
            raise ServiceError(f"systemctl restart {self.unit}: exit {proc.returncode}: {msg}")
