"""Import every table so that ``Base.metadata`` is complete (Alembic, create_all)."""

from cloud.audit.storage import AuditEntry
from cloud.auth.storage import ApiKey, ApiKeyShop, LoginThrottle, User
from cloud.catalog.storage import (
    CommodityProfile,
    Location,
    LocationDevice,
    MobileDevice,
    Organisation,
    Product,
    ProductionBase,
)
from cloud.coldchain.storage import ColdchainAlarm, ColdchainExcursion
from cloud.commerce.storage import Order, OrderEvent, OrderLine, Shop, SkuMap
from cloud.db.base import Base
from cloud.devices.commands_storage import Command
from cloud.devices.firmware.storage import FirmwareImage, FirmwareRollout, FirmwareRolloutNode
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
from cloud.logistics.fleet.storage import ColdStoreInfo, Driver, VehicleCompartment, VehicleInfo
from cloud.logistics.positions.storage import (
    DirtyWindow,
    Track,
    Tracker,
    TrackerCount,
    WindowConsumer,
)
from cloud.logistics.supply.storage import SupplyPost
from cloud.logistics.trips.storage import (
    Geofence,
    GeofenceEvent,
    TrackedStop,
    TrackedTrip,
    TripTrack,
)
from cloud.logistics.waybills.storage import (
    DeliveryCode,
    ProofOfDelivery,
    Stop,
    Trip,
    Waybill,
    WaybillEvent,
)
from cloud.notify.storage import NotifyDeadLetter, NotifyDelivery
from cloud.provisioning.storage import ServiceAccount
from cloud.resolver.page.storage import PageGeneration
from cloud.resolver.scans.storage import Scan, ScanFlag
from cloud.resolver.serials.storage import SerialRange
from cloud.services.cms.storage import Article, Attachment
from cloud.services.mofcom.storage import MofcomDelivery
from cloud.services.poverty.storage import Household, HouseholdLink, LinkIncome
from cloud.services.registry.storage import PlatformKey, Registration
from cloud.services.showcase.storage import ShowcaseItem, ShowcasePhoto
from cloud.services.statforms.storage import FormSubmission
from cloud.services.stations.storage import StationInfo, StationShop
from cloud.services.training.storage import (
    Attendance,
    Certificate,
    Course,
    Enrolment,
    Trainer,
    TrainingSession,
)
from cloud.supervision.storage import (
    ActionItem,
    BudgetLine,
    Bulletin,
    Contract,
    Disbursement,
    Evaluation,
    Evidence,
    Finding,
    Inspection,
    Meeting,
    Milestone,
    Publication,
    Rectification,
    Report,
    ReportVersion,
    ScheduleItem,
)
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
    "ActionItem",
    "ApiKey",
    "ApiKeyShop",
    "Article",
    "Attachment",
    "Attendance",
    "AuditEntry",
    "Base",
    "BrandDecision",
    "BrandRuleset",
    "BudgetLine",
    "Bulletin",
    "Certificate",
    "ColdStoreInfo",
    "ColdchainAlarm",
    "ColdchainExcursion",
    "Command",
    "CommodityProfile",
    "Contract",
    "Course",
    "CustodyCursor",
    "CustodyEvidence",
    "DeadLetter",
    "DeadLetterPayload",
    "DeliveryCode",
    "Device",
    "DirtyWindow",
    "Disbursement",
    "Driver",
    "Enrolment",
    "Evaluation",
    "EventRecord",
    "Evidence",
    "Finding",
    "FirmwareImage",
    "FirmwareRollout",
    "FirmwareRolloutNode",
    "FormSubmission",
    "Gateway",
    "GatewayHealth",
    "GatewaySeq",
    "Geofence",
    "GeofenceEvent",
    "Household",
    "HouseholdLink",
    "IngestAlert",
    "Inspection",
    "InspectionRecord",
    "LinkIncome",
    "Location",
    "LocationDevice",
    "LogHead",
    "LogLeaf",
    "LogNode",
    "LogState",
    "LoginThrottle",
    "Meeting",
    "Milestone",
    "MobileDevice",
    "MofcomDelivery",
    "NotifyDeadLetter",
    "NotifyDelivery",
    "Order",
    "OrderEvent",
    "OrderLine",
    "Organisation",
    "PageGeneration",
    "PlatformKey",
    "Product",
    "ProductionBase",
    "ProofOfDelivery",
    "Publication",
    "ReceivedBatch",
    "Rectification",
    "Registration",
    "ReplayJob",
    "Report",
    "ReportVersion",
    "RollupGeneration",
    "RollupPending",
    "RollupPendingMinute",
    "Scan",
    "ScanFlag",
    "ScheduleItem",
    "SerialRange",
    "ServiceAccount",
    "Shop",
    "ShowcaseItem",
    "ShowcasePhoto",
    "SkuMap",
    "StationInfo",
    "StationShop",
    "Stop",
    "SupplyPost",
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
    "Track",
    "TrackedStop",
    "TrackedTrip",
    "Tracker",
    "TrackerCount",
    "Trainer",
    "TrainingSession",
    "Trip",
    "TripTrack",
    "User",
    "VehicleCompartment",
    "VehicleInfo",
    "Waybill",
    "WaybillEvent",
    "WindowConsumer",
]
