"""Reads of the audit trail: the admin's list and the CSV export."""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from .models import AuditEntry

CSV_COLUMNS = (
    "id",
    "created",
    "source",
    "actor",
    "actor_user_id",
    "action",
    "object_type",
    "object_id",
    "merchant_id",
    "before",
    "after",
    "outcome",
    "request_id",
    "ip",
)


def audit_confirmation_token_used(token: str) -> bool:
    return AuditEntry.objects.filter(confirmation_token=token).exists()


def audit_csv_rows(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """The entries as CSV lines (header first), oldest first as given; values were masked when written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for entry in entries:
        row = []
        for column in CSV_COLUMNS:
            value = getattr(entry, column)
            if column in ("before", "after"):
                value = json.dumps(value, sort_keys=True)
            elif column == "created":
                value = value.isoformat()
            row.append(_csv_safe("" if value is None else str(value)))
        writer.writerow(row)
        yield flush()


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ is a formula in a spreadsheet (CSV injection): quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
