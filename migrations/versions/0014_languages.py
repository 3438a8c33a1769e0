"""languages: a boilerplate version per language, the letter's language, the differentiator
and the sender's title per language

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 05:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns only (no batch): SQLite keeps organization's expression index (0007).
    op.add_column('boilerplate_version', sa.Column('language', sa.String(length=16),
                                                   nullable=False, server_default='en'))
    op.create_index('ix_boilerplate_version_language', 'boilerplate_version',
                    ['boilerplate_id', 'language', 'number'])
    op.add_column('letter', sa.Column('language', sa.String(length=16), nullable=True))
    op.add_column('position', sa.Column('differentiator_in', sa.JSON(), nullable=False,
                                        server_default='{}'))
    op.add_column('organization', sa.Column('sender_title_in', sa.JSON(), nullable=False,
                                            server_default='{}'))


def downgrade():
    op.drop_index('ix_boilerplate_version_language', table_name='boilerplate_version')
    with op.batch_alter_table('boilerplate_version') as batch:
        batch.drop_column('language')
    with op.batch_alter_table('letter') as batch:
        batch.drop_column('language')
    with op.batch_alter_table('position') as batch:
        batch.drop_column('differentiator_in')
    op.drop_column('organization', 'sender_title_in')
