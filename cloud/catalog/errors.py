"""The catalog's one error: a status (403, 404, 409, 422) and the input at fault."""

from __future__ import annotations


class CatalogError(Exception):
    """``status`` (403, 404, 409, 422) and the input at fault (``body.gtin``)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
