"""The bounce webhooks of mail relays, read as bounces: Postmark, SendGrid, Mailgun, Amazon SES.

Each relay posts its own JSON. ``read_events`` recognises which relay wrote the body and turns
each of its events into a ``RelayEvent``: the recipient, an RFC 3463 status (``5.x.x`` for a
permanent failure, ``4.x.x`` for a delay), the server's words, and what names our letter when
the relay keeps it (the Message-ID, the VERP token of the envelope sender). ``apply_events``
hands every bounce and delay to ``bounces.apply_bounce``, the one place a delivery becomes
``bounced``; complaints, auto-replies, deliveries and opens change nothing.

Nothing here touches the network: an SNS subscription is confirmed by a person who opens its
link, never by recruiter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_string, policy
from typing import Any

from sqlalchemy.orm import Session

from ..errors import RecruiterError
from .bounces import BounceResult, apply_bounce
from .verp import token_in

RELAYS = ("postmark", "sendgrid", "mailgun", "ses")
KINDS = ("bounce", "delay", "complaint", "auto_reply", "other")
_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Postmark's bounce types (its "Type" field) by what they mean for a letter.
POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked",
                 "DMARCPolicy", "SpamNotification"}
POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "Unknown", "VirusNotification"}
RECOGNISED = ("Postmark's bounce webhook, SendGrid's Event Webhook, Mailgun's webhooks "
              "(JSON) or Amazon SES notifications through SNS")


class RelayError(RecruiterError):
    """A body that is not a relay event recruiter knows, with what is wrong with it."""


@dataclass(frozen=True)
class RelayEvent:
    """One event of a relay, as much of it as a bounce needs."""

    kind: str  # one of KINDS
    recipient: str | None
    status: str | None = None  # RFC 3463, for a bounce or a delay
    diagnostic: str = ""
    message_id: str | None = None
    token: str | None = None
    note: str = ""  # the relay's own name for the event, e.g. "HardBounce", "delivered"


@dataclass(frozen=True)
class Relayed:
    """A relay's body, read: its events, and an SNS subscription for a person to confirm."""

    relay: str
    events: list[RelayEvent] = field(default_factory=list)
    subscribe_url: str | None = None
    topic: str | None = None
    sns_type: str | None = None


def read_events(body: bytes) -> Relayed:
    """The events in a relay's webhook body; a RelayError naming the problem otherwise."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise RelayError(f"The body is not JSON. recruiter reads {RECOGNISED}; Mailgun's "
                         "legacy form webhooks are not read.") from None
    if isinstance(data, list):
        return Relayed("sendgrid", [_sendgrid(item, n) for n, item in enumerate(data)])
    if not isinstance(data, dict):
        raise RelayError(f"The body is JSON but not an object or a list; recruiter reads "
                         f"{RECOGNISED}.")
    if "TopicArn" in data and "Type" in data:
        return _sns(data)
    if "notificationType" in data or "eventType" in data:  # SNS with raw message delivery
        return Relayed("ses", _ses(data))
    if "event-data" in data:
        return Relayed("mailgun", [_mailgun(_object(data["event-data"], "event-data"))])
    if "RecordType" in data:
        return Relayed("postmark", [_postmark(data)])
    names = ", ".join(sorted(str(k) for k in data)[:8]) or "none"
    raise RelayError(f"This is not a bounce event recruiter knows (its top-level fields: "
                     f"{names}). Send {RECOGNISED}.")


def apply_events(session: Session, organization_id: int, relayed: Relayed, *,
                 now: datetime | None = None) -> list[tuple[RelayEvent, BounceResult]]:
    """Apply each bounce and delay to the delivery it names; the rest are ``ignored``."""
    results = []
    for event in relayed.events:
        if event.kind in ("bounce", "delay") and event.status:
            result = apply_bounce(session, organization_id, token=event.token,
                                  message_id=event.message_id, recipient=event.recipient,
                                  status=event.status, diagnostic=event.diagnostic,
                                  source=f"webhook:{relayed.relay}", now=now)
        else:
            result = BounceResult("ignored")
        results.append((event, result))
    return results


# --- helpers -----------------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RelayError(f"{where}: expected a JSON object, found {type(value).__name__}.")
    return value


def _text(data: dict[str, Any], name: str, where: str, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise RelayError(f"{where}: the field {name!r} is missing.")
        return ""
    if not isinstance(value, str | int | float):
        raise RelayError(f"{where}: the field {name!r} should be text.")
    return str(value)


def _status(*texts: object, permanent: bool) -> str:
    """The first RFC 3463 status of the right class in the relay's words, else X.0.0."""
    wanted = "5" if permanent else "4"
    for text in texts:
        for match in _CODE.finditer(str(text or "")):
            if match.group(1) == wanted:
                return match.group(0)
    return f"{wanted}.0.0"


def _original_message_id(raw: str) -> str | None:
    """The Message-ID of the returned message inside a raw bounce (a DSN), if it is there."""
    if not raw:
        return None
    message = message_from_string(raw, policy=policy.compat32)
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if inner is not None and inner.get("Message-ID"):
                return str(inner["Message-ID"])
        elif kind == "text/rfc822-headers":
            headers = message_from_string(str(part.get_payload(decode=False)))
            if headers.get("Message-ID"):
                return str(headers["Message-ID"])
    return None


# --- the relays --------------------------------------------------------------------------------


def _postmark(data: dict[str, Any]) -> RelayEvent:
    where = "Postmark event"
    record = _text(data, "RecordType", where, required=True)
    recipient = _text(data, "Email", where) or _text(data, "Recipient", where) or None
    metadata = data.get("Metadata") if isinstance(data.get("Metadata"), dict) else {}
    message_id = (str(metadata.get("message_id") or metadata.get("message-id") or "") or
                  _original_message_id(_text(data, "Content", where)))
    if record == "SpamComplaint":
        return RelayEvent("complaint", recipient, note="SpamComplaint", message_id=message_id)
    if record != "Bounce":
        return RelayEvent("other", recipient, note=record, message_id=message_id)
    kind = _text(data, "Type", where, required=True)
    details, description = _text(data, "Details", where), _text(data, "Description", where)
    if kind == "AutoResponder":
        return RelayEvent("auto_reply", recipient, note=kind)
    if kind not in POSTMARK_HARD | POSTMARK_SOFT:
        return RelayEvent("other", recipient, note=kind)
    if not recipient:
        raise RelayError(f"{where}: the field 'Email' is missing.")
    hard = kind in POSTMARK_HARD
    return RelayEvent("bounce" if hard else "delay", recipient,
                      _status(details, description, permanent=hard),
                      details or description or kind, message_id=message_id, note=kind)


SENDGRID_OTHER = {"processed", "delivered", "open", "click", "unsubscribe",
                  "group_unsubscribe", "group_resubscribe"}


def _sendgrid(item: Any, number: int) -> RelayEvent:
    where = f"SendGrid event {number + 1}"
    data = _object(item, where)
    event = _text(data, "event", where, required=True)
    recipient = _text(data, "email", where, required=True)
    message_id = _text(data, "smtp-id", where) or None
    status_field = _text(data, "status", where)
    if event in ("bounce", "dropped"):
        # A bounce whose status is 4.x.x is SendGrid's "blocked", which may yet pass.
        hard = not status_field.startswith("4")
        words = _text(data, "reason", where) or event
        return RelayEvent("bounce" if hard else "delay", recipient,
                          _status(status_field, words, permanent=hard), words,
                          message_id=message_id, note=_text(data, "type", where) or event)
    if event == "deferred":
        words = _text(data, "response", where) or _text(data, "reason", where) or event
        return RelayEvent("delay", recipient, _status(status_field, words, permanent=False),
                          words, message_id=message_id, note=event)
    if event == "spamreport":
        return RelayEvent("complaint", recipient, message_id=message_id, note=event)
    return RelayEvent("other", recipient, message_id=message_id, note=event)


def _mailgun(data: dict[str, Any]) -> RelayEvent:
    where = "Mailgun event-data"
    event = _text(data, "event", where, required=True)
    recipient = _text(data, "recipient", where) or None
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    message_id = str(headers.get("message-id") or "") or None
    envelope = data.get("envelope") if isinstance(data.get("envelope"), dict) else {}
    token = token_in(str(envelope.get("sender") or ""))
    if event == "complained":
        return RelayEvent("complaint", recipient, message_id=message_id, note=event)
    if event != "failed":
        return RelayEvent("other", recipient, message_id=message_id, note=event)
    if not recipient:
        raise RelayError(f"{where}: the field 'recipient' is missing.")
    severity = _text(data, "severity", where, required=True)
    if severity not in ("permanent", "temporary"):
        raise RelayError(f"{where}: severity should be 'permanent' or 'temporary', not "
                         f"{severity!r}.")
    status = _object(data.get("delivery-status") or {}, f"{where}: delivery-status")
    words = " ".join(x for x in (str(status.get("message") or "").strip(),
                                 str(status.get("description") or "").strip()) if x)
    words = words or _text(data, "reason", where) or f"{severity} failure"
    hard = severity == "permanent"
    code = _status(status.get("enhanced-code"), words, permanent=hard)
    return RelayEvent("bounce" if hard else "delay", recipient, code, words,
                      message_id=message_id, token=token, note=f"failed ({severity})")


def _sns(data: dict[str, Any]) -> Relayed:
    kind = _text(data, "Type", "SNS message", required=True)
    topic = _text(data, "TopicArn", "SNS message") or None
    if kind == "SubscriptionConfirmation":
        url = _text(data, "SubscribeURL", "SNS subscription confirmation", required=True)
        return Relayed("ses", subscribe_url=url, topic=topic, sns_type=kind)
    if kind == "UnsubscribeConfirmation":
        return Relayed("ses", topic=topic, sns_type=kind)
    if kind != "Notification":
        raise RelayError(f"SNS message: Type {kind!r} is not one SNS sends "
                         "(Notification, SubscriptionConfirmation, UnsubscribeConfirmation).")
    raw = _text(data, "Message", "SNS notification", required=True)
    try:
        message = json.loads(raw)
    except ValueError:
        raise RelayError("SNS notification: its Message is not JSON, so it is not an Amazon "
                         "SES notification; subscribe recruiter to the SES topic only.") from None
    return Relayed("ses", _ses(_object(message, "SNS notification: Message")), topic=topic,
                   sns_type=kind)


def _ses_message_id(mail: dict[str, Any]) -> str | None:
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    if common.get("messageId"):
        return str(common["messageId"])
    for header in mail.get("headers") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value") or "") or None
    return None


def _recipients(items: Any, where: str) -> Iterable[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise RelayError(f"{where}: expected a list of recipients.")
    return [_object(item, f"{where}[{n}]") for n, item in enumerate(items)]


def _ses(data: dict[str, Any]) -> list[RelayEvent]:
    where = "SES notification"
    kind = _text(data, "notificationType", where) or _text(data, "eventType", where)
    if not kind:
        raise RelayError(f"{where}: the field 'notificationType' is missing.")
    mail = _object(data.get("mail") or {}, f"{where}: mail")
    message_id = _ses_message_id(mail)
    token = token_in(str(mail.get("source") or ""))
    if kind == "Bounce":
        bounce = _object(data.get("bounce"), f"{where}: bounce")
        bounce_type = _text(bounce, "bounceType", f"{where}: bounce", required=True)
        hard = bounce_type == "Permanent"
        subtype = _text(bounce, "bounceSubType", f"{where}: bounce")
        events = []
        for person in _recipients(bounce.get("bouncedRecipients"),
                                  f"{where}: bounce.bouncedRecipients"):
            words = (_text(person, "diagnosticCode", where)
                     or f"{bounce_type} bounce ({subtype or 'no detail'})")
            events.append(RelayEvent(
                "bounce" if hard else "delay",
                _text(person, "emailAddress", f"{where}: a bounced recipient", required=True),
                _status(_text(person, "status", where), words, permanent=hard), words,
                message_id=message_id, token=token, note=f"{bounce_type}/{subtype}".strip("/")))
        return events
    if kind == "Complaint":
        complaint = _object(data.get("complaint"), f"{where}: complaint")
        return [RelayEvent("complaint", _text(person, "emailAddress", where) or None,
                           message_id=message_id, note=kind)
                for person in _recipients(complaint.get("complainedRecipients"),
                                          f"{where}: complaint.complainedRecipients")]
    destination = mail.get("destination") if isinstance(mail.get("destination"), list) else []
    return [RelayEvent("other", str(destination[0]) if destination else None,
                       message_id=message_id, note=kind)]

