"""Members of the organization; admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..errors import RecruiterError
from ..extensions import db
from ..forms.auth import MemberForm, RoleForm
from ..models import Member
from ..services import audit
from ..services.accounts import create_member, end_sessions, force_password_reset
from .access import org_id, requires

bp = Blueprint("members", __name__)


@bp.route("/members", methods=["GET", "POST"])
@requires("admin")
def index() -> Response | str:
    """List the members and add one."""
    form = MemberForm()
    if form.validate_on_submit():
        try:
            member = create_member(db.session, current_user.organization,
                                   email=form.email.data or "", role=form.role.data or "",
                                   password=form.password.data or "", name=form.name.data or "",
                                   by=current_user)
        except RecruiterError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"Added {member.email} as {member.role}.", "success")
            return redirect(url_for("members.index"))
    members = db.session.scalars(select(Member).where(Member.organization_id == org_id(),
                                                      Member.kind == "person")
                                 .order_by(Member.email)).all()
    return render_template("members/index.html", form=form, members=members,
                           role_form=RoleForm())


@bp.post("/members/<int:member_id>")
@requires("admin")
def update(member_id: int) -> Response:
    """Change a member's role or switch their access off."""
    member = _member(member_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    if member.id == current_user.id:
        flash("You cannot change your own role or access; ask another admin.", "error")
        return redirect(url_for("members.index"))
    role, active = form.role.data or member.role, form.active.data == "1"
    if (role, active) != (member.role, member.active):
        end_sessions(member)  # a session must not keep the rights it signed in with
    member.role, member.active = role, active
    audit.record(db.session, member.organization_id, "member.changed", actor=current_user,
                 subject=member, payload={"role": member.role, "active": member.active})
    db.session.commit()
    state = "active" if member.active else "switched off"
    flash(f"{member.email} is now {member.role}, {state}.", "success")
    return redirect(url_for("members.index"))


@bp.post("/members/<int:member_id>/sessions")
@requires("admin")
def sign_out(member_id: int) -> Response:
    """End every session of a member; with reset=1 they must also choose a new password."""
    member = _member(member_id)
    if request.form.get("reset") == "1":
        force_password_reset(db.session, member, by=current_user)
        done = "must choose a new password at their next sign-in"
    else:
        end_sessions(member)
        audit.record(db.session, member.organization_id, "member.signed_out",
                     actor=current_user, subject=member)
        done = "is signed out everywhere"
    db.session.commit()
    flash(f"{member.email} {done}.", "success")
    return redirect(url_for("members.index"))


def _member(member_id: int) -> Member:
    """A member of the signed-in admin's organization, or 404."""
    member = db.session.get(Member, member_id)
    if member is None or member.organization_id != org_id() or member.kind != "person":
        abort(404)
    return member
