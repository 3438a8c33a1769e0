"""who gets which letter: openings and a review version per position, a letter's cancel reason
and render error, the internal note and salutation of an import, the remembered import mapping

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.add_column(sa.Column('openings', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('review_version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('salutation', sa.String(length=200), server_default='', nullable=False))
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('internal_note', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancel_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('render_error', sa.Text(), nullable=True))
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_mapping', sa.JSON(), server_default='{}', nullable=False))


def downgrade():
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('import_mapping')
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_column('render_error')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('cancel_reason')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_column('internal_note')
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_column('salutation')
    with op.batch_alter_table('position', schema=None) as batch_op:
        batch_op.drop_column('review_version')
        batch_op.drop_column('openings')
