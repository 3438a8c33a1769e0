"""Who gets which letter: the outcomes, the letter's life, and the table of transitions.

An application's **outcome** decides whether its candidate gets a decline letter; only
``declined`` does. A **letter's life** is read from three columns (``Letter.status``,
``Delivery.state`` and ``Batch.state``, see ``letter_life``). This module holds the model as
plain data and functions; services/outcomes.py is the door every view, CLI command and import
changes an outcome through, and services/rechecks.py the only place that cancels a letter
because of who its candidate is now (at an outcome change, approval, freezing and sending).

The table of transitions (the README prints it):

==========  =========  ====================================================================
from        to         effect on the candidate's letter
==========  =========  ====================================================================
pending     declined   a decline letter is drafted for review
pending     hired      no letter; counts against the openings (more hires asks to raise them)
pending     withdrawn  no letter
declined    pending    reinstated: every letter that has not left is cancelled
declined    hired      every letter that has not left is cancelled; a sent one needs confirming
declined    withdrawn  every letter that has not left is cancelled
hired       pending    no letter; the position opens again
hired       declined   needs confirmation, then a decline letter is drafted
hired       withdrawn  no letter; the position opens again
withdrawn   pending    no letter
withdrawn   declined   a decline letter is drafted for review
withdrawn   hired      no letter; counts against the openings
==========  =========  ====================================================================

A letter "has left" when it is ``sending``, ``sent`` or ``in_doubt``: nothing can call it back,
so the effect says so instead. A ``bounced`` letter left but never arrived (services/bounces.py
is the one place that sets it, from ``sent`` or ``in_doubt``): the candidate has no letter, so
an outcome may still change and the letter is cancelled like one that has not left. A click
never changes another candidate's outcome: replacing the hire is a choice the member confirms,
with the list of every affected letter.
"""

from __future__ import annotations

from ..models import Application, Batch, Delivery, Letter
from ..models.hiring import LETTER_OUTCOMES

OUTCOMES = ("pending", "hired", "declined", "withdrawn")
LETTER_LIFE = ("draft", "approved", "frozen", "held", "scheduled", "queued", "sending", "sent",
               "failed", "in_doubt", "bounced", "cancelled")
LEFT = ("sending", "sent", "in_doubt")  # may have reached the candidate: cannot be stopped
BOUNCES_FROM = ("sent", "in_doubt")  # the delivery states a permanent bounce moves to bounced
LIFE_LABELS = {life: life.replace("_", " ") for life in LETTER_LIFE}  # "in doubt"
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "declined"): "a decline letter is drafted for review",
    ("pending", "hired"): "no letter; counts against the openings",
    ("pending", "withdrawn"): "no letter",
    ("declined", "pending"): "reinstated: every letter that has not left is cancelled",
    ("declined", "hired"): "every letter that has not left is cancelled; a sent one needs "
                           "confirming",
    ("declined", "withdrawn"): "every letter that has not left is cancelled",
    ("hired", "pending"): "no letter; the position opens again",
    ("hired", "declined"): "needs confirmation, then a decline letter is drafted",
    ("hired", "withdrawn"): "no letter; the position opens again",
    ("withdrawn", "pending"): "no letter",
    ("withdrawn", "declined"): "a decline letter is drafted for review",
    ("withdrawn", "hired"): "no letter; counts against the openings",
}
# Why a letter was stopped: the code goes into the audit (no personal text), the sentence
# onto the letter.
REASONS = {
    "hired": "The candidate is a hire for this position.",
    "withdrawn": "The candidate withdrew.",
    "pending": "The candidate was reinstated (pending): no decision, no letter.",
    "duplicate": "The same person already has a letter for this position.",
}


def gets_letter(outcome: str) -> bool:
    """Whether an application with this outcome gets a decline letter."""
    return outcome in LETTER_OUTCOMES  # only "declined"; the model's SQL filters use the same


def letter_life(letter: Letter | None, delivery: Delivery | None = None,
                batch: Batch | None = None) -> str | None:
    """Where a letter stands, as one word of LETTER_LIFE; None when there is no letter."""
    if letter is None:
        return None
    if letter.status in ("draft", "approved", "cancelled"):
        return letter.status
    if delivery is None:
        return "sent" if letter.status == "sent" else "frozen"
    if delivery.state == "held":
        return "scheduled" if batch is not None and batch.state == "scheduled" else "held"
    if delivery.state in ("queued", "retry_wait"):
        return "queued"
    return delivery.state


def allowed_outcomes(application: Application, life: str | None) -> list[str]:
    """The outcomes a member may still choose for this application, given its letter's life.

    Once a decline letter may have reached the candidate, only a hire (confirmed) remains.
    """
    if life in LEFT:
        return ["hired"] if application.outcome != "hired" else []
    return [o for o in ("hired", "declined", "withdrawn", "pending") if o != application.outcome]
