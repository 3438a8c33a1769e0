"""Sending: freeze approved letters to exact bytes, then deliver each one exactly once or say why.

- ``freeze``: the approval's last step; every letter becomes a ``FrozenLetter`` and gets one
  delivery, all in the caller's transaction.
- ``batches``: a position's batch, held until the hire accepts, scheduled, released, cancelled.
- ``transport``: the outbox folder or SMTP, chosen by ``RECRUITER_MAIL_URL``.
- ``delivery``: claim, send, record, sweep; the rules that make sending exactly-once or doubtful,
  never twice.
- ``recipients``: who a batch went to and how, a page at a time (read only).
- ``resolve``: people deciding about doubtful or failed letters, and confirming posted ones.
- ``start``: approving the batch, frozen now or by a worker (the send page and the API).
- ``worker``: the queue's side, and the one place here that commits.

Views, the CLI and the queue use the names below; the modules do not import this package.
"""

from .batches import (
    PROBLEMS,
    SENDING_TIMEOUT,
    batch_of,
    cancel_batch,
    deliveries_of,
    problems,
    queued_email_ids,
    release,
    release_due,
    state_counts,
)
from .delivery import LOST_WORKER, MAX_ATTEMPTS, RETRY_BASE, RETRY_CAP, Attempt, claim_batch
from .freeze import freeze_batch, freezing, request_freeze
from .recipients import Recipient, last_sent_at, recipients
from .resolve import RESOLUTIONS, confirm_posted, resolve
from .start import Started, start_sending
from .transport import FileTransport, Outcome, SmtpTransport, Transport, transport_for
from .worker import CLAIM_BATCH, deliver_batch, deliver_ids, freeze_for_worker, sweep

__all__ = [
    "CLAIM_BATCH", "LOST_WORKER", "MAX_ATTEMPTS", "PROBLEMS", "RESOLUTIONS", "RETRY_BASE",
    "RETRY_CAP", "SENDING_TIMEOUT", "Attempt", "FileTransport", "Outcome", "Recipient",
    "SmtpTransport", "Started", "Transport", "batch_of", "cancel_batch", "claim_batch",
    "confirm_posted", "deliveries_of", "deliver_batch", "deliver_ids", "freeze_batch",
    "freeze_for_worker", "freezing", "last_sent_at", "problems", "queued_email_ids",
    "recipients", "release", "release_due", "request_freeze", "resolve", "start_sending",
    "state_counts", "sweep", "transport_for",
]
