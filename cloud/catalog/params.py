"""What every catalog router takes: id parameters, the county filter, and who may read
or write (docs/roles.md). One definition, so the routes cannot drift apart."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from cloud.auth.deps import require
from cloud.auth.principal import Principal
from cloud.db import MAX_INT32

Ident = Annotated[int, Path(ge=1, le=MAX_INT32)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_INT32)]
CountyQuery = Annotated[
    str | None, Query(description="Only this county (GB/T 2260 code); must be one you can see")
]
CatalogRead = Annotated[Principal, require("catalog:read")]
CatalogWrite = Annotated[Principal, require("catalog:write")]
#: Admins of the county, and organisation roles for their own organisation's records.
RecordsWrite = Annotated[Principal, require("catalog:write", "org_records:write")]
