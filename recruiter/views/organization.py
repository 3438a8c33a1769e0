"""The organization's settings page; admins only."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms.organization import OrganizationForm
from ..models import Organization
from ..services import audit
from ..services.accounts import organization_name
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
        values = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
        values["address"] = "\n".join(line.rstrip() for line in values["address"].splitlines())
        try:
            values["name"] = organization_name(db.session, values["name"], renaming=org.id)
        except RecruiterError as exc:  # taken in some case: which organization is not said
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            changed = sorted(k for k, v in values.items() if getattr(org, k) != v)
            for key in changed:
                setattr(org, key, values[key])
            if changed:  # the field names only: the values are in the row itself
                audit.record(db.session, org.id, "organization.changed", actor=current_user,
                             subject=org, payload={"fields": changed})
            db.session.commit()
            flash("Saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("organization.settings"))
    return render_template("organization/settings.html", form=form)
