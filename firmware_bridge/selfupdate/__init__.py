"""The gateway's own software update: signed release bundles, a new venv per release,
an atomic switch under systemd, a health-watched trial and an automatic rollback.

``bundle`` (build, verify, extract), ``layout`` (releases/, current, previous,
update.json), ``install`` (venv + ``pip install --no-index``), ``health`` (judged from
the gateway's status.json), ``service`` (systemctl), ``updater`` (apply, watch,
rollback, resume), ``cli`` (``dehong fw bundle``, ``dehong fw self-update``).
See firmware_bridge/README.md, "Gateway self-update".
"""
