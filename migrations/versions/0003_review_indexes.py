"""review indexes: the letter list and notes page of a large position read indexes, not rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:00:00

"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_review', ['position_id', 'outcome', 'stage', 'channel', 'note_revision', 'candidate_id', 'id'], unique=False)
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.create_index('ix_letter_review', ['organization_id', 'application_id', 'status', 'updated_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_index('ix_letter_review')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_review')
