"""Import every table so that ``Base.metadata`` is complete (Alembic, create_all)."""

from cloud.audit.storage import AuditEntry
from cloud.auth.storage import ApiKey, User
from cloud.db.base import Base
from cloud.devices.storage import Device, Gateway, GatewaySeq
from cloud.ingest.storage import DeadLetter, EventRecord, ReceivedBatch
from cloud.provisioning.storage import ServiceAccount

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "DeadLetter",
    "Device",
    "EventRecord",
    "Gateway",
    "GatewaySeq",
    "ReceivedBatch",
    "ServiceAccount",
    "User",
]
