"""The organization's settings page and its API tokens; admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms.organization import TokenForm, organization_form
from ..models import ApiToken, Organization
from ..services.languages import SHIPPED, display_name, org_language, primary
from ..services.organization import FIELDS as SETTINGS
from ..services.organization import TITLES_IN, SettingError, titles_in, update_organization
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
    titles = titles_in(org)
    own = org_language(org)
    names = {code: display_name(code) for code in (set(SHIPPED) | set(titles)) - {own}}
    languages = sorted(names, key=names.__getitem__)
    form = organization_form(languages, names, org, titles)
    form.sender_title.label.text = f"Their title, in {display_name(own)}"
    if form.validate_on_submit():
        values: dict[str, object] = {name: getattr(form, name).data for name in FIELDS}
        # A language that becomes the organization's own keeps its stored title, unused.
        new_own = primary(form.locale.data) or own
        values[TITLES_IN] = {code: getattr(form, f"title_in_{code}").data or ""
                             for code in languages if code != new_own}
        try:
            changed = update_organization(db.session, org, values, current_user)
        except SettingError as exc:  # a name taken in some case: which organization is not said
            name = exc.field.replace(f"{TITLES_IN}.", "title_in_")
            field = getattr(form, name, None) or form.sender_title
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
