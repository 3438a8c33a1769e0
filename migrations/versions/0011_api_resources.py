"""api resources: token members as audit actors, idempotent requests, applications' ATS ids

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 01:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), nullable=False,
                                      server_default='person'))
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_api_token_member_id', 'member', ['member_id'], ['id'])
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint('uq_application_position_external',
                                          ['position_id', 'external_id'])
    op.create_table(
        'idempotent_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('request_sha256', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_id', 'key'),
    )
    # Tokens made before this revision get the member they act as.
    bind = op.get_bind()
    tokens = bind.execute(sa.text(
        "SELECT id, organization_id, name, scope, prefix, created_at, revoked_at "
        "FROM api_token")).all()
    for token in tokens:
        member_id = bind.execute(sa.text(
            "INSERT INTO member (organization_id, email, name, role, password_hash, active, "
            "created_at, session_version, must_change_password, kind) VALUES (:org, :email, "
            ":name, :role, '!', :active, :created, 0, :no, 'token') RETURNING id"), {
                "org": token.organization_id, "email": f"token-{token.id}@api.invalid",
                "name": f"API token “{token.name}”"[:200],
                "role": "manager" if token.scope == "write" else "auditor",
                "active": token.revoked_at is None, "created": token.created_at,
                "no": False}).scalar_one()
        bind.execute(sa.text("UPDATE api_token SET member_id = :m WHERE id = :t"),
                     {"m": member_id, "t": token.id})


def downgrade():
    op.drop_table('idempotent_request')
    bind = op.get_bind()
    token_members = [row.member_id for row in bind.execute(sa.text(
        "SELECT member_id FROM api_token WHERE member_id IS NOT NULL")).all()]
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_constraint('fk_api_token_member_id', type_='foreignkey')
        batch_op.drop_column('member_id')
    for member_id in token_members:
        # Audit events keep their actor id; only members nothing else points at go.
        bind.execute(sa.text(
            "DELETE FROM member WHERE id = :m AND kind = 'token' AND NOT EXISTS "
            "(SELECT 1 FROM audit_event WHERE actor_id = :m)"), {"m": member_id})
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_constraint('uq_application_position_external', type_='unique')
        batch_op.drop_column('external_id')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('kind')
