"""The organization's settings page and its API tokens; admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms.organization import OrganizationForm, TokenForm
from ..models import ApiToken, Organization
from ..services.organization import FIELDS as SETTINGS
from ..services.organization import SettingError, update_organization
from ..services.tokens import create_token, revoke_token, tokens_of
from .access import requires

bp = Blueprint("organization", __name__)

# The service's fields but retention, which the audit settings page sets, and the webhook
# setting, which the webhooks page sets.
FIELDS = tuple(name for name in SETTINGS
               if name not in ("retention_months", "webhooks_allow_private"))


@bp.route("/organization", methods=["GET", "POST"])
@requires("admin")
def settings() -> Response | str:
    """Show and change the letterhead, sender, time zone and sending rate."""
    org: Organization = current_user.organization
    form = OrganizationForm(obj=org)
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in FIELDS}
        try:
            changed = update_organization(db.session, org, values, current_user)
        except SettingError as exc:  # a name taken in some case: which organization is not said
            field = getattr(form, exc.field)
            field.errors = [*field.errors, str(exc)]
        else:
            db.session.commit()
            flash("Saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("organization.settings"))
    return render_template("organization/settings.html", form=form)


@bp.route("/organization/tokens", methods=["GET", "POST"])
@requires("admin")
def tokens() -> Response | str:
    """The organization's API tokens; a new one's secret is shown on this response only."""
    org: Organization = current_user.organization
    form = TokenForm()
    secret = None
    if form.validate_on_submit():
        try:
            token, secret = create_token(db.session, org, form.name.data, form.scope.data,
                                         by=current_user)
        except RecruiterError as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            db.session.commit()
            form = TokenForm(formdata=None)
    # Never cached: the page may hold a secret that is shown this once.
    response = make_response(render_template("organization/tokens.html", form=form,
                                             secret=secret, tokens=tokens_of(db.session, org)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/organization/tokens/<int:token_id>/revoke")
@requires("admin")
def revoke(token_id: int) -> Response:
    """Revoke one token of the organization; requests with it are refused from now on."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.organization_id != current_user.organization_id:
        abort(404)
    revoke_token(db.session, current_user.organization, str(token.id), by=current_user)
    db.session.commit()
    flash(f"Revoked the token “{token.name}” ({token.prefix}…).", "success")
    return redirect(url_for("organization.tokens"))
