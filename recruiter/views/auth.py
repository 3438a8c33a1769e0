"""Signing in and out, changing one's password, and throttling failed sign-ins."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from limits import RateLimitItem, parse
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db, limiter
from ..forms.account import PasswordForm
from ..forms.auth import LoginForm
from ..services.accounts import authenticate, change_password, end_sessions

bp = Blueprint("auth", __name__)
# Where a member who must choose a new password may still go.
_WHILE_RESETTING = {"auth.password", "auth.logout", "static"}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """The sign-in page; failed attempts count per account and per address."""
    if current_user.is_authenticated:
        return redirect(url_for("positions.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        wait = _throttled(email)
        if wait is not None:
            flash(wait[0], "error")
            page = render_template("auth/login.html", form=form)
            return page, 429, {"Retry-After": str(wait[1])}  # type: ignore[return-value]
        member = authenticate(db.session, email, form.password.data or "")
        if member is not None:
            member.last_login_at = datetime.now(UTC)
            db.session.commit()
            login_user(member)
            if member.must_change_password:
                flash("Your admin asked you to choose a new password.", "info")
                return redirect(url_for("auth.password"))
            flash(f"Welcome, {member.name or member.email}.", "success")
            return redirect(_safe_next(request.args.get("next")))
        _count_failure(email)
        flash("That email and password do not match an active member.", "error")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out, ending every session of this member (a copied cookie stops working too)."""
    end_sessions(current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Response | str:
    """Change one's own password; every other session ends, this one goes on."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user, form.current.data or "", form.new.data or "")
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # the new session version
            flash("Your password is changed; your other sessions are signed out.", "success")
            return redirect(url_for("positions.index"))
    return render_template("account/password.html", form=form)


@bp.before_app_request
def _must_change_password() -> Response | None:
    """Send a member whose admin forced a reset to the password page until it is done."""
    if (request.endpoint not in _WHILE_RESETTING and current_user.is_authenticated
            and current_user.must_change_password):
        return redirect(url_for("auth.password"))
    return None


def _limits(email: str) -> tuple[tuple[RateLimitItem, tuple[str, ...], str], ...]:
    """The two throttles as (limit, storage key, message), the account's first."""
    config = current_app.config
    prefix = config.get("RATELIMIT_KEY_PREFIX") or ""
    # Keyed on the email tried, existing or not, so a lock says nothing about who is a member;
    # hashed with the secret key, so the store never holds an address.
    account = hmac.new(str(config["SECRET_KEY"]).encode(), email.strip().lower().encode(),
                       hashlib.sha256).hexdigest()[:32]
    return (
        (parse(config["LOGIN_ACCOUNT_RATE_LIMIT"]), (prefix, "login-account", account),
         "Too many failed sign-ins for this account; try again in {}."),
        (parse(config["LOGIN_RATE_LIMIT"]), (prefix, "login-address", request.remote_addr or ""),
         "Too many failed sign-ins from this address; try again in {}."),
    )


def _throttled(email: str) -> tuple[str, int] | None:
    """(message, seconds to wait) when the account or the address is throttled, else None."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    for item, key, message in _limits(email):
        if not limiter.limiter.test(item, *key):
            reset = limiter.limiter.get_window_stats(item, *key).reset_time
            seconds = max(1, math.ceil(reset - time.time()))
            minutes = math.ceil(seconds / 60)
            return message.format(f"{minutes} minute{'' if minutes == 1 else 's'}"), seconds
    return None


def _count_failure(email: str) -> None:
    """Count one failed sign-in against the account tried and the client's address."""
    if current_app.config.get("RATELIMIT_ENABLED", True):
        for item, key, _message in _limits(email):
            limiter.limiter.hit(item, *key)


def _safe_next(target: str | None) -> str:
    """Follow ?next= only to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
    return url_for("positions.index")
