"""idempotent requests keep the Location header of the first answer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 05:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('idempotent_request', sa.Column('location', sa.String(length=2000),
                                                  nullable=True))


def downgrade():
    with op.batch_alter_table('idempotent_request') as batch:
        batch.drop_column('location')
