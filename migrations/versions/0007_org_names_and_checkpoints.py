"""organization names unique without regard to case; erasure requests keyed by an HMAC

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 20:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _clashes(conn):
    """Groups of organizations whose names differ only in case: [[(id, name), ...], ...]."""
    rows = conn.execute(sa.text(
        "SELECT id, name FROM organization WHERE lower(name) IN ("
        "SELECT lower(name) FROM organization GROUP BY lower(name) HAVING count(*) > 1) "
        "ORDER BY lower(name), id")).all()
    groups = {}
    for org_id, name in rows:
        groups.setdefault(name.lower(), []).append((org_id, name))
    return list(groups.values())


def upgrade():
    clashes = _clashes(op.get_bind())
    if clashes:
        listed = "\n".join("  " + ", ".join(f"id {org_id}: {name!r}" for org_id, name in group)
                           for group in clashes)
        raise RuntimeError(
            "Organization names must differ in more than case, and these do not:\n"
            f"{listed}\nRename all but one of each group on its settings page, then run the "
            "upgrade again.")
    # Not in a batch: both databases create and drop an expression index in place, and a
    # batch on SQLite would reflect (and warn about) the index it cannot read back.
    op.create_index('uq_organization_name_lower', 'organization', [sa.text('lower(name)')],
                    unique=True)
    # Rows written before this revision hold a plain SHA-256 of the email, which cannot be
    # turned into an HMAC without the address: they stay, marked as such, and are matched so.
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_hash_kind', sa.String(length=16),
                                      server_default='sha256', nullable=False))


def downgrade():
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.drop_column('email_hash_kind')
    op.drop_index('uq_organization_name_lower', table_name='organization')
