"""The SQLite ledger: every request, exact spend aggregates and budget reservations."""

from core.ledger.codec import record_to_json
from core.ledger.export import CSV_FIELDS, ExportFormat
from core.ledger.models import (
    BreakdownKey,
    DayPoint,
    GroupTotal,
    LedgerFilter,
    PeriodSpend,
    Totals,
)
from core.ledger.schema import APPLICATION_ID, SCHEMA_VERSION
from core.ledger.store import Ledger

__all__ = [
    "APPLICATION_ID",
    "CSV_FIELDS",
    "SCHEMA_VERSION",
    "BreakdownKey",
    "DayPoint",
    "ExportFormat",
    "GroupTotal",
    "Ledger",
    "LedgerFilter",
    "PeriodSpend",
    "Totals",
    "record_to_json",
]
