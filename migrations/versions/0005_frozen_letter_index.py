"""frozen letter index: the audit page of a position finds its frozen letters in an index
instead of reading every letter row with its stored bytes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:15:00

"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.create_index('ix_letter_frozen', ['application_id', 'frozen_at', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_index('ix_letter_frozen')
