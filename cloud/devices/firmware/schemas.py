"""Request and response bodies of ``/api/v1/firmware``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

#: What a gateway may report of a node.
REPORTABLE = (
    "offered",
    "transferring",
    "trial-booted",
    "confirmed",
    "rolled-back",
    "refused",
    "failed",
)
STAGES = ("canary", "percentage", "all")


class ImageOut(BaseModel):
    id: int
    county: str
    kind: str
    target: str
    version: str
    size: int
    sha256: str
    min_bootloader: str | None
    allow_downgrade: bool
    uploaded_by: str
    created_at: datetime
    #: the signed manifest's canonical JSON, and its Ed25519 signature (hex)
    manifest: str
    signature: str
    #: where a gateway downloads the image's bytes
    download: str


class NodeRef(BaseModel):
    gateway_id: str = Field(min_length=1, max_length=48)
    node_id: int = Field(ge=1, le=0xFFFE)


class RolloutCreate(BaseModel):
    image_id: int = Field(ge=1, le=2**31 - 1)
    #: the first node is the canary
    nodes: list[NodeRef] = Field(min_length=1, max_length=5000)
    #: share of all nodes (the canary included) released in the second stage
    percentage: int = Field(default=25, ge=1, le=100)
    #: stop when failed / released nodes passes this (default: the API's setting)
    failure_threshold: float | None = Field(default=None, ge=0, le=1)


class NodeStateOut(BaseModel):
    gateway_id: str
    node_id: int
    stage: str
    released: bool
    state: str
    detail: str | None
    updated_at: datetime


class RolloutOut(BaseModel):
    id: int
    county: str
    image_id: int
    target: str
    version: str
    status: str
    stage: str
    percentage: int
    failure_threshold: float
    failure_rate: float
    stop_reason: str | None
    counts: dict[str, int]
    created_by: str
    created_at: datetime
    updated_at: datetime
    nodes: list[NodeStateOut] | None = None


class NodeReport(BaseModel):
    state: str = Field(description="one of " + ", ".join(REPORTABLE))
    detail: str | None = Field(default=None, max_length=500)


class Assignment(BaseModel):
    rollout_id: int
    node_id: int
    state: str
    image: ImageOut
