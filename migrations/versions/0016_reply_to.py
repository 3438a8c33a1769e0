"""reply-to: the address replies to a letter go to (empty: the sender's)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 06:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # An added column only (no batch): SQLite keeps organization's expression index (0007).
    op.add_column('organization', sa.Column('reply_to', sa.String(length=320), nullable=False,
                                            server_default=''))


def downgrade():
    op.drop_column('organization', 'reply_to')
