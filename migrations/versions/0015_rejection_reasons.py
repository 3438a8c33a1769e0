"""rejection reasons: each organization's list, and the reason chosen for an application

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 05:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rejection_reason',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=120), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('sort_order', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'label', name='uq_rejection_reason_label'),
    )
    op.create_index('ix_rejection_reason_organization_id', 'rejection_reason',
                    ['organization_id'])
    # Not a batch: on SQLite a batch may copy the table, and a copy of a table that refers to
    # organization would make SQLite lose sight of its expression index (0007, 0012). The
    # foreign key is written inline, which SQLite's ALTER TABLE ADD COLUMN accepts. It has no
    # ON DELETE: a reason once chosen is deactivated, never deleted, so the database refuses
    # to delete one that an application still names.
    op.add_column('application', sa.Column(
        'rejection_reason_id', sa.Integer(), sa.ForeignKey('rejection_reason.id'),
        nullable=True), inline_references=True)
    op.create_index('ix_application_rejection_reason_id', 'application',
                    ['rejection_reason_id'])
    # Organizations get the default reasons on first use of the page or the service.


def downgrade():
    op.drop_index('ix_application_rejection_reason_id', table_name='application')
    # SQLite cannot drop a column that has a foreign key without copying the table.
    with op.batch_alter_table('application') as batch:
        batch.drop_column('rejection_reason_id')
    op.drop_index('ix_rejection_reason_organization_id', table_name='rejection_reason')
    op.drop_table('rejection_reason')
