"""Review fees (审查费) and digital payment (数字支付): schedule, invoices, gateway callbacks.

See ``README.md`` in this folder for the schedule format and the callback protocol.
"""

from review.fees.callbacks import (
    CallbackDecision,
    InMemoryNonceLedger,
    NonceLedger,
    PayableInvoice,
    VerifiedCallback,
    decide,
    sign_callback,
    verify_callback,
)
from review.fees.errors import (
    AmountMismatch,
    CallbackRejected,
    FeeError,
    FeeScheduleInvalid,
    ForgedCallback,
    InvoiceInputInvalid,
    LateCallback,
    MalformedCallback,
    ReplayedCallback,
    UnknownInvoice,
)
from review.fees.invoice import Invoice, InvoiceLine, compute_invoice, format_invoice_number, parse_invoice_number
from review.fees.schedule import FeeSchedule, example_schedule, load_schedule_bytes, parse_schedule

__all__ = [
    "AmountMismatch",
    "CallbackDecision",
    "CallbackRejected",
    "FeeError",
    "FeeSchedule",
    "FeeScheduleInvalid",
    "ForgedCallback",
    "InMemoryNonceLedger",
    "Invoice",
    "InvoiceInputInvalid",
    "InvoiceLine",
    "LateCallback",
    "MalformedCallback",
    "NonceLedger",
    "PayableInvoice",
    "ReplayedCallback",
    "UnknownInvoice",
    "VerifiedCallback",
    "compute_invoice",
    "decide",
    "example_schedule",
    "format_invoice_number",
    "load_schedule_bytes",
    "parse_invoice_number",
    "parse_schedule",
    "sign_callback",
    "verify_callback",
]
