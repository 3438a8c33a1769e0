"""Webhook endpoints and the organization's webhook setting (admins only)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from ..services.webhooks.endpoints import DESCRIPTION_MAX, URL_MAX
from ..services.webhooks.events import EVENTS
from . import options, single_line


class WebhookForm(FlaskForm):
    """A new endpoint: where to POST, what for, and which events."""

    url = StringField("URL", validators=[DataRequired(), Length(max=URL_MAX), single_line],
                      description="https://… on your own systems; every request is signed.")
    description = StringField("Description", validators=[Length(max=DESCRIPTION_MAX),
                                                         single_line],
                              description="What receives it, such as your ATS.")
    events = SelectMultipleField("Events", choices=options((e, e) for e in EVENTS),
                                 default=list(EVENTS), widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput())


class WebhookSettingsForm(FlaskForm):
    """Whether endpoints may be on private networks (a deliberate, audited choice)."""

    webhooks_allow_private = BooleanField(
        "Allow private, loopback and link-local addresses",
        description="Only for receivers inside your own network; off, recruiter refuses them "
                    "so that a webhook cannot reach internal services.")
