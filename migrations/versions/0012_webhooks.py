"""webhooks: endpoints, events and their deliveries (the outbox); the private-target setting

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 01:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # Not a batch: on SQLite a batch may copy the table, and the copy would lose the
    # expression index on lower(name) (0007), which SQLite cannot reflect.
    op.add_column('organization', sa.Column('webhooks_allow_private', sa.Boolean(),
                                            nullable=False, server_default=sa.false()))
    op.create_table(
        'webhook_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['member.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_endpoint_organization_id', 'webhook_endpoint',
                    ['organization_id'])
    op.create_table(
        'webhook_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=40), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('dedup_key', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('public_id'),
        sa.UniqueConstraint('organization_id', 'dedup_key', name='uq_webhook_event_dedup'),
    )
    op.create_index('ix_webhook_event_organization_id', 'webhook_event', ['organization_id'])
    op.create_table(
        'webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['event_id'], ['webhook_event.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_delivery_organization_id', 'webhook_delivery',
                    ['organization_id'])
    op.create_index('ix_webhook_delivery_event_id', 'webhook_delivery', ['event_id'])
    op.create_index('ix_webhook_delivery_endpoint_id', 'webhook_delivery', ['endpoint_id'])
    op.create_index('ix_webhook_delivery_due', 'webhook_delivery',
                    ['state', 'next_attempt_at'])
    op.create_table(
        'webhook_fanout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('delivery_ids', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_webhook_fanout_organization_id', 'webhook_fanout', ['organization_id'])


def downgrade():
    op.drop_table('webhook_fanout')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_event')
    op.drop_table('webhook_endpoint')
    op.drop_column('organization', 'webhooks_allow_private')
