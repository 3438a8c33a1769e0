"""api tokens: an organization's named tokens for the JSON API, kept as SHA-256 only

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 23:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('scope', sa.String(length=8), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('secret_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['member.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('secret_sha256'),
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index('ix_api_token_organization_id', ['organization_id'])


def downgrade():
    op.drop_table('api_token')
