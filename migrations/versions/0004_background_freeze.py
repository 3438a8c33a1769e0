"""background freeze: a position remembers that its batch is being frozen, or why it was not;
and PostgreSQL refuses TRUNCATE on the audit table too

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 07:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# 0002's function raises for any operation; TRUNCATE needs a statement-level trigger of its own.
NO_TRUNCATE = """
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_immutable();
"""


def upgrade():
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.add_column(sa.Column('freezing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('freeze_problem', sa.Text(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(NO_TRUNCATE)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.drop_column('freeze_problem')
        batch_op.drop_column('freezing_since')
