"""frozen letters and resolutions: the frozen bytes leave the letter row for a table of their
own, and people's decisions about deliveries become rows instead of prose in last_error

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:00:00

"""
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

FROZEN = ('message_id', 'eml', 'eml_sha256', 'pdf', 'pdf_sha256', 'frozen_at')
WHEN = sa.DateTime(timezone=True)
# How sending.py wrote a person's decision into Delivery.last_error before this revision.
NOTE = re.compile(r"(mark sent|resend|cancel) by (.*?) at (\d{4}-\d\d-\d\d \d\d:\d\d) UTC")
POSTED = "posted, confirmed by "

letter = sa.table('letter', sa.column('id'), sa.column('organization_id'),
                  sa.column('batch_id'), sa.column('boilerplate_version_id'),
                  *(sa.column(name) for name in FROZEN[:-1]), sa.column('frozen_at', WHEN))
frozen = sa.table('frozen_letter', sa.column('organization_id'), sa.column('letter_id'),
                  sa.column('batch_id'), sa.column('boilerplate_version_id'),
                  *(sa.column(name) for name in FROZEN[:-1]), sa.column('frozen_at', WHEN))
delivery = sa.table('delivery', sa.column('id'), sa.column('organization_id'),
                    sa.column('state'), sa.column('last_error'), sa.column('server_reply'),
                    sa.column('sent_at', WHEN), sa.column('created_at', WHEN), sa.column('resolved_by_id'))
resolution = sa.table('resolution', sa.column('id'), sa.column('organization_id'),
                      sa.column('delivery_id'), sa.column('member_id'), sa.column('action'),
                      sa.column('state_before'), sa.column('reason'), sa.column('at', WHEN))
member = sa.table('member', sa.column('id'), sa.column('organization_id'), sa.column('name'),
                  sa.column('email'))


def upgrade():
    op.create_table(
        'frozen_letter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('letter_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('boilerplate_version_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=True),
        sa.Column('eml', sa.LargeBinary(), nullable=True),
        sa.Column('eml_sha256', sa.String(length=64), nullable=True),
        sa.Column('pdf', sa.LargeBinary(), nullable=True),
        sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['letter_id'], ['letter.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['boilerplate_version_id'], ['boilerplate_version.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('letter_id'),
        sa.UniqueConstraint('message_id'),
    )
    with op.batch_alter_table('frozen_letter', schema=None) as batch_op:
        batch_op.create_index('ix_frozen_letter_organization_id', ['organization_id'])
        batch_op.create_index('ix_frozen_letter_batch_id', ['batch_id'])
    op.create_table(
        'resolution',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('state_before', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['member_id'], ['member.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('resolution', schema=None) as batch_op:
        batch_op.create_index('ix_resolution_organization_id', ['organization_id'])
        batch_op.create_index('ix_resolution_delivery_id', ['delivery_id'])

    bind = op.get_bind()
    orphans = bind.scalar(sa.select(sa.func.count()).select_from(letter).where(
        letter.c.frozen_at.is_not(None), letter.c.batch_id.is_(None)))
    if orphans:
        raise RuntimeError(f"{orphans} frozen letters belong to no batch; nothing was changed. "
                           "Restore their batch_id before upgrading.")
    op.execute(frozen.insert().from_select(
        ['organization_id', 'letter_id', 'batch_id', 'boilerplate_version_id', *FROZEN],
        sa.select(letter.c.organization_id, letter.c.id, letter.c.batch_id,
                  letter.c.boilerplate_version_id, *(letter.c[name] for name in FROZEN))
        .where(letter.c.frozen_at.is_not(None))))
    _notes_to_rows(bind)

    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_index('ix_letter_frozen')
        for name in FROZEN:
            batch_op.drop_column(name)
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('resolved_by_id')
    # Never written: retention counts from filled_at (services/retention.py).
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.drop_column('closed_at')


def _member_id(bind, org_id: int, who: str, fallback: int | None) -> int | None:
    """The member a note names (by name or email, in the organization), if exactly one."""
    ids = bind.scalars(sa.select(member.c.id).where(
        member.c.organization_id == org_id,
        sa.or_(member.c.name == who, member.c.email == who))).all()
    return ids[0] if len(ids) == 1 else fallback


def _notes_to_rows(bind) -> None:
    """Each decision written as prose becomes a row; the prose leaves last_error."""
    rows = bind.execute(sa.select(
        delivery.c.id, delivery.c.organization_id, delivery.c.state, delivery.c.last_error,
        delivery.c.server_reply, delivery.c.sent_at, delivery.c.created_at,
        delivery.c.resolved_by_id).where(delivery.c.resolved_by_id.is_not(None))).all()
    for row in rows:
        made = []
        for action, who, stamp in NOTE.findall(row.last_error or ""):
            made.append(dict(
                member_id=_member_id(bind, row.organization_id, who, row.resolved_by_id),
                action=action.replace(" ", "_"),
                at=datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)))
        if not made and (row.server_reply or "").startswith(POSTED):
            made.append(dict(member_id=row.resolved_by_id, action="posted",
                             at=row.sent_at or row.created_at))
        if not made:  # a decision whose words were lost: keep who, say what is not known
            action = {"sent": "mark_sent", "cancelled": "cancel"}.get(row.state, "resend")
            made.append(dict(member_id=row.resolved_by_id, action=action, at=row.created_at,
                             reason="recorded before decisions had their own rows; the time "
                                    "is the delivery's creation"))
        for item in made:
            bind.execute(resolution.insert().values(
                organization_id=row.organization_id, delivery_id=row.id,
                state_before="unknown", reason=item.get("reason"), **{
                    k: v for k, v in item.items() if k != "reason"}))
        rest = [part for part in (row.last_error or "").split("; ")
                if part and not NOTE.fullmatch(part)]
        bind.execute(delivery.update().where(delivery.c.id == row.id)
                     .values(last_error="; ".join(rest) or None))


def downgrade():
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_delivery_resolved_by_id_member', 'member',
                                    ['resolved_by_id'], ['id'])
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('eml', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('eml_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pdf', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint('uq_letter_message_id', ['message_id'])
        batch_op.create_index('ix_letter_frozen', ['application_id', 'frozen_at', 'id'])
    bind = op.get_bind()
    for row in bind.execute(sa.select(frozen.c.letter_id, *(frozen.c[n] for n in FROZEN))):
        bind.execute(letter.update().where(letter.c.id == row.letter_id)
                     .values(**{name: row._mapping[name] for name in FROZEN}))
    verbs = {"mark_sent": "mark sent", "resend": "resend", "cancel": "cancel"}
    who = sa.func.coalesce(member.c.name, member.c.email)
    for row in bind.execute(
            sa.select(resolution.c.delivery_id, resolution.c.member_id, resolution.c.action,
                      resolution.c.at, who.label('who'))
            .select_from(resolution.outerjoin(member, member.c.id == resolution.c.member_id))
            .order_by(resolution.c.id)):
        current = bind.execute(sa.select(delivery.c.last_error).where(
            delivery.c.id == row.delivery_id)).scalar()
        values = {"resolved_by_id": row.member_id}
        if row.action in verbs:
            note = f"{verbs[row.action]} by {row.who} at {row.at:%Y-%m-%d %H:%M} UTC"
            values["last_error"] = f"{current}; {note}" if current else note
        bind.execute(delivery.update().where(delivery.c.id == row.delivery_id).values(**values))
    op.drop_table('resolution')
    op.drop_table('frozen_letter')
