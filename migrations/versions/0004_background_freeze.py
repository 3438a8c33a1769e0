"""background freeze: a position remembers that its batch is being frozen, or why it was not

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


def upgrade():
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.add_column(sa.Column('freezing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('freeze_problem', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.drop_column('freeze_problem')
        batch_op.drop_column('freezing_since')
