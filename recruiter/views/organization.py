"""The organization's settings page; admins only."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import db
from ..forms.organization import OrganizationForm
from ..models import Organization
from ..services.organization import SettingError, update_organization
from .access import requires

bp = Blueprint("organization", __name__)

FIELDS = ("name", "address", "sender_name", "sender_title", "sender_email", "timezone",
          "locale", "send_rate_per_minute")


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
