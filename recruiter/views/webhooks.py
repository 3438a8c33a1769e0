"""Settings, Webhooks: the organization's endpoints, their secrets and delivery logs (admins)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms.webhooks import WebhookForm, WebhookSettingsForm
from ..models import Organization, WebhookDelivery, WebhookEndpoint
from ..services import webhooks
from ..services.organization import SettingError, update_organization
from ..services.orgtime import org_zone
from .access import requires

bp = Blueprint("webhooks", __name__)


def _page(template: str, **context: object) -> Response:
    # Never cached: the endpoint page shows its secret.
    response = make_response(render_template(template, zone=org_zone(current_user.organization),
                                             **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.organization_id != current_user.organization_id:
        abort(404)
    return endpoint


@bp.route("/organization/webhooks", methods=["GET", "POST"])
@requires("admin")
def index() -> Response:
    """The endpoints, a form to add one, and the private-address setting."""
    org: Organization = current_user.organization
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.add_endpoint(db.session, org, form.url.data, form.events.data,
                                             form.description.data, by=current_user)
        except webhooks.EndpointError as exc:
            db.session.rollback()
            field = getattr(form, exc.field)
            field.errors = [*field.errors, str(exc)]
        else:
            db.session.commit()
            flash("Endpoint added. Copy its signing secret below.", "success")
            return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint.id))
    settings = WebhookSettingsForm(formdata=None, obj=org)
    return _page("webhooks/index.html", form=form, settings=settings,
                 endpoints=webhooks.endpoints_of(db.session, org))


@bp.post("/organization/webhooks/settings")
@requires("admin")
def settings() -> Response:
    """Allow or refuse private targets; audited as an organization setting."""
    form = WebhookSettingsForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        changed = update_organization(db.session, current_user.organization, {
            "webhooks_allow_private": form.webhooks_allow_private.data}, current_user)
    except SettingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("webhooks.index"))


@bp.get("/organization/webhooks/<int:endpoint_id>")
@requires("admin")
def endpoint(endpoint_id: int) -> Response:
    """One endpoint: its secret, and its delivery log, newest first."""
    found = _endpoint(endpoint_id)
    log = webhooks.deliveries_of(db.session, current_user.organization, endpoint_id=found.id)
    return _page("webhooks/endpoint.html", endpoint=found, deliveries=log)


@bp.post("/organization/webhooks/<int:endpoint_id>/toggle")
@requires("admin")
def toggle(endpoint_id: int) -> Response:
    """Enable a disabled endpoint or disable an enabled one (its deliveries wait)."""
    found = _endpoint(endpoint_id)
    webhooks.update_endpoint(db.session, found, active=not found.active, by=current_user)
    db.session.commit()
    flash("Endpoint enabled." if found.active else "Endpoint disabled; its deliveries wait.",
          "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=found.id))


@bp.post("/organization/webhooks/<int:endpoint_id>/remove")
@requires("admin")
def remove(endpoint_id: int) -> Response:
    """Remove an endpoint and its delivery log."""
    webhooks.remove_endpoint(db.session, _endpoint(endpoint_id), by=current_user)
    db.session.commit()
    flash("Endpoint removed.", "success")
    return redirect(url_for("webhooks.index"))


@bp.post("/organization/webhooks/deliveries/<int:webhook_delivery_id>/resend")
@requires("admin")
def resend(webhook_delivery_id: int) -> Response:
    """Send a delivered or dead delivery again, with the same event id."""
    delivery = db.session.get(WebhookDelivery, webhook_delivery_id)
    if delivery is None or delivery.organization_id != current_user.organization_id:
        abort(404)
    endpoint_id = delivery.endpoint_id
    try:
        webhooks.resend(db.session, delivery, by=current_user)
    except RecruiterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Queued to be sent again.", "success")
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint_id))
