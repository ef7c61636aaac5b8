"""Import every table so that ``Base.metadata`` is complete (Alembic, create_all)."""

from cloud.audit.storage import AuditEntry
from cloud.auth.storage import ApiKey, LoginThrottle, User
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    MobileDevice,
    Organisation,
    Product,
    ProductionBase,
)
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
from cloud.logistics.trips.storage import (
    Geofence,
    GeofenceEvent,
    TrackedStop,
    TrackedTrip,
    TripTrack,
)
from cloud.provisioning.storage import ServiceAccount
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.resolver.serials.storage import SerialRange
from cloud.timeseries.rollup_storage import (
    RollupGeneration,
    RollupPending,
    RollupPendingMinute,
)
from cloud.trace.brand.storage import BrandDecision, BrandRuleset
from cloud.trace.certificates.storage import (
    TraceCertificate,
    TraceCertificateBase,
    TraceCertificateProduct,
    TraceCommitmentCertificate,
)
from cloud.trace.custody.storage import CustodyCursor, CustodyEvidence
from cloud.trace.events.storage import TraceCaptureJob, TraceEvent, TraceEventObject
from cloud.trace.log.storage import LogHead, LogLeaf, LogNode, LogState
from cloud.trace.lots.storage import TraceLot, TraceLotParent
from cloud.trace.results.storage import TraceTestResult

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "BrandDecision",
    "BrandRuleset",
    "Command",
    "CommodityProfile",
    "CustodyCursor",
    "CustodyEvidence",
    "DeadLetter",
    "DeadLetterPayload",
    "Device",
    "EventRecord",
    "Gateway",
    "GatewayHealth",
    "GatewaySeq",
    "Geofence",
    "GeofenceEvent",
    "IngestAlert",
    "InspectionRecord",
    "Location",
    "LocationDevice",
    "LogHead",
    "LogLeaf",
    "LogNode",
    "LogState",
    "LoginThrottle",
    "MobileDevice",
    "Organisation",
    "Product",
    "ProductionBase",
    "ReceivedBatch",
    "ReplayJob",
    "RollupGeneration",
    "RollupPending",
    "RollupPendingMinute",
    "Scan",
    "ScanFlag",
    "SerialRange",
    "ServiceAccount",
    "TraceCaptureJob",
    "TraceCertificate",
    "TraceCertificateBase",
    "TraceCertificateProduct",
    "TraceCommitmentCertificate",
    "TraceEvent",
    "TraceEventObject",
    "TraceLot",
    "TraceLotParent",
    "TraceTestResult",
    "TrackedStop",
    "TrackedTrip",
    "TripTrack",
    "User",
]
