"""documents: a candidate's CV and cover letter, beside the note

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 08:00:00

- document: one row per uploaded CV or cover letter of an application (at most one of each
  kind), with the file's name, media type, size, SHA-256, who uploaded it and when, and the
  plain text extracted for reading beside the note.
- document_content: the uploaded bytes, in a table of their own so that no list reads them.

Both go with their application (ON DELETE CASCADE); the retention purge and erasure delete them.
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'document',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('file_name', sa.String(length=255), nullable=False),
        sa.Column('media_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('text_chars', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['application_id'], ['application.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['member.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('application_id', 'kind'),
    )
    op.create_index('ix_document_organization_id', 'document', ['organization_id'])
    op.create_index('ix_document_application_id', 'document', ['application_id'])
    op.create_table(
        'document_content',
        sa.Column('document_id', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['document_id'], ['document.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('document_id'),
    )


def downgrade():
    op.drop_table('document_content')
    op.drop_index('ix_document_application_id', table_name='document')
    op.drop_index('ix_document_organization_id', table_name='document')
    op.drop_table('document')
