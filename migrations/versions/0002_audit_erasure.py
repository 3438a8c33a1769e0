"""audit: erasure requests, the purge rule, and an append-only audit table on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:05:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The audit table only ever grows: on PostgreSQL a trigger refuses UPDATE and DELETE.
# (SQLite has no such guard; `recruiter audit verify` finds any change there.)
IMMUTABLE = """
CREATE OR REPLACE FUNCTION audit_event_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_immutable();
"""


def upgrade():
    op.create_table('erasure_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('email_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('carried_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erasure_request_email_sha256'), ['email_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_erasure_request_organization_id'), ['organization_id'], unique=False)
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purge_rule', sa.String(length=200), nullable=False, server_default=''))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(IMMUTABLE)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_immutable()")
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_column('purge_rule')
    with op.batch_alter_table('erasure_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erasure_request_organization_id'))
        batch_op.drop_index(batch_op.f('ix_erasure_request_email_sha256'))
    op.drop_table('erasure_request')
