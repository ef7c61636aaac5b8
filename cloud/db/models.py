"""Import every table so that ``Base.metadata`` is complete (Alembic, create_all)."""

from cloud.audit.storage import AuditEntry
from cloud.auth.storage import ApiKey, LoginThrottle, User
from cloud.catalog.storage import MobileDevice, Organisation
from cloud.db.base import Base
from cloud.devices.commands_storage import Command
from cloud.devices.storage import Device, Gateway, GatewayHealth, GatewaySeq
from cloud.ingest.storage import (
    DeadLetter,
    DeadLetterPayload,
    EventRecord,
    IngestAlert,
    ReceivedBatch,
    ReplayJob,
)
from cloud.inspections.storage import InspectionRecord
from cloud.provisioning.storage import ServiceAccount
from cloud.timeseries.rollup_storage import (
    RollupGeneration,
    RollupPending,
    RollupPendingMinute,
)

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "Command",
    "DeadLetter",
    "DeadLetterPayload",
    "Device",
    "EventRecord",
    "Gateway",
    "GatewayHealth",
    "GatewaySeq",
    "IngestAlert",
    "InspectionRecord",
    "LoginThrottle",
    "MobileDevice",
    "Organisation",
    "ReceivedBatch",
    "ReplayJob",
    "RollupGeneration",
    "RollupPending",
    "RollupPendingMinute",
    "ServiceAccount",
    "User",
]
