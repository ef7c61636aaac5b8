"""API shapes of the log. Hashes are standard base64 (RFC 4648 section 4), as in
checkpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

B64 = "standard base64 (RFC 4648 section 4) of a 32-byte SHA-256 hash"


class LogKeyOut(BaseModel):
    origin: str = Field(description="The log's name: the origin line of its checkpoints")
    algorithm: str = Field(default="Ed25519", description="Signature algorithm (RFC 8032)")
    key_id: str = Field(
        description="SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ public key)[:4], 8 hex digits (signed-note)"
    )
    verifier_key: str = Field(
        description="<origin>+<key id>+<base64(0x01 ‖ public key)>, as golang.org/x/mod/sumdb/note "
        "reads it; `dehong trace verify --key` takes it"
    )
    public_key: str = Field(description="The 32-byte Ed25519 public key, base64")
    public_key_pem: str = Field(description="The same key as a PEM SubjectPublicKeyInfo")


class InclusionProofOut(BaseModel):
    event_id: str = Field(description="The leaf's key: the eventID (or eventID#errorDeclaration)")
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description=f"SHA-256(0x00 ‖ RFC 8785 JSON of the event), {B64}")
    hashes: list[str] = Field(description=f"The audit path (RFC 9162 2.1.3), leaf first; {B64}")
    root_hash: str = Field(
        description=f"The root at tree_size the path leads to; {B64}. Trust it only as the "
        "root of a checkpoint signed by the log's key"
    )


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str = Field(description=B64)
    second_root: str = Field(description=B64)
    hashes: list[str] = Field(description=f"The consistency proof (RFC 9162 2.1.4); {B64}")
