"""bounces, a position's own Reply-To, and required rejection reasons

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:30:00

- delivery: ``bounce_token`` (the unguessable part of a VERP envelope sender,
  ``bounces+<token>@<bounce domain>``), and what a bounce said: ``bounced_at``,
  ``bounce_status`` (the DSN's status, "5.1.1") and ``bounce_diagnostic``.
- organization: ``bounce_domain`` (empty: the envelope sender is the From address, no VERP)
  and ``require_reasons`` (a declined candidate needs a rejection reason before approval,
  as EEO/OFCCP record-keeping asks).
- position: ``reply_to`` (empty: the organization's Reply-To).
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # Added columns only (no batch): SQLite keeps organization's expression index (0007).
    op.add_column('delivery', sa.Column('bounce_token', sa.String(length=64), nullable=True))
    op.add_column('delivery', sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('delivery', sa.Column('bounce_status', sa.String(length=16), nullable=True))
    op.add_column('delivery', sa.Column('bounce_diagnostic', sa.Text(), nullable=True))
    op.create_index('ix_delivery_bounce_token', 'delivery', ['bounce_token'], unique=True)
    op.add_column('organization', sa.Column('bounce_domain', sa.String(length=255),
                                            nullable=False, server_default=''))
    op.add_column('organization', sa.Column('require_reasons', sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.add_column('position', sa.Column('reply_to', sa.String(length=320), nullable=False,
                                        server_default=''))


def downgrade():
    op.drop_column('position', 'reply_to')
    op.drop_column('organization', 'require_reasons')
    op.drop_column('organization', 'bounce_domain')
    op.drop_index('ix_delivery_bounce_token', table_name='delivery')
    op.drop_column('delivery', 'bounce_diagnostic')
    op.drop_column('delivery', 'bounce_status')
    op.drop_column('delivery', 'bounced_at')
    op.drop_column('delivery', 'bounce_token')
