from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.auth.principal import Role

Username = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$", description="2-64 characters")


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


OrgId = Field(
    default=None,
    max_length=64,
    description="Organisation (cloud/catalog id) of an organisation role; null otherwise.",
)


class Me(BaseModel):
    kind: Literal["user", "apikey", "gateway"]
    name: str
    role: Role
    county: str
    org_id: str | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Username
    role: Role
    county: str = Field(description="GB/T 2260 code; 533100 for a prefecture_admin.")
    password: str | None = Field(
        default=None, description="At least 10 characters; omitted: one is generated."
    )
    display_name: str = Field(default="", max_length=200)
    org_id: str | None = OrgId


class UserUpdate(BaseModel):
    """Only the fields sent change; ``org_id: null`` clears the organisation."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    org_id: str | None = OrgId
    disabled: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    role: Role
    county: str
    display_name: str = Field(description="Personal data: masked ('***') for auditors.")
    disabled: bool
    created_at: datetime
    org_id: str | None = None


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(
        default=None, description="The generated password, shown once; null if you chose one."
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str
    new_password: str


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: Role
    county: str
    org_id: str | None = OrgId


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    role: Role
    county: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    org_id: str | None = None


class ApiKeyCreated(BaseModel):
    api_key: ApiKeyOut
    key: str = Field(description="Send as 'X-API-Key'. Shown once; only its hash is stored.")
