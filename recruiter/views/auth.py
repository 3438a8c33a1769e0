"""Signing in and out, with throttling of failed attempts."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from ..extensions import db, limiter
from ..forms.auth import LoginForm
from ..services.accounts import authenticate

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"],
               deduct_when=lambda response: response.status_code != 302,
               error_message="Too many failed sign-ins. Wait a minute and try again.")
def login() -> Response | str | tuple[str, int]:
    """The sign-in page; only failed attempts count towards the limit."""
    if current_user.is_authenticated:
        return redirect(url_for("positions.index"))
    form = LoginForm()
    if form.validate_on_submit():
        member = authenticate(db.session, form.email.data or "", form.password.data or "")
        if member is not None:
            member.last_login_at = datetime.now(UTC)
            db.session.commit()
            login_user(member)
            flash(f"Welcome, {member.name or member.email}.", "success")
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an active member.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Follow ?next= only to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
    return url_for("positions.index")
