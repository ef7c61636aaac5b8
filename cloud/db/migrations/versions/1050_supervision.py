"""supervision (issue 15): budget lines, contracts, disbursements, milestones, evidence, the rhythm, meetings, bulletins, monthly reports, inspections, evaluations, publications

Revision ID: 1050
Revises: 0303
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.base


revision: str = '1050'
down_revision: str | None = '0303'
branch_labels: str | Sequence[str] | None = ('supervision',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('supervision_bulletins',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('assembled_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('assembled_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_bulletins'))
    )
    with op.batch_alter_table('supervision_bulletins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_bulletins_county'), ['county'], unique=False)

    op.create_table('supervision_evaluations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_evaluations'))
    )
    with op.batch_alter_table('supervision_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_evaluations_county'), ['county'], unique=False)

    op.create_table('supervision_inspections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('inspected_on', sa.Date(), nullable=False),
    sa.Column('inspectors', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_inspections'))
    )
    with op.batch_alter_table('supervision_inspections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_inspections_county'), ['county'], unique=False)

    op.create_table('supervision_lines',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('systems', sa.JSON(), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_lines')),
    sa.UniqueConstraint('county', 'code', name=op.f('uq_supervision_lines_county'))
    )
    with op.batch_alter_table('supervision_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_lines_county'), ['county'], unique=False)

    op.create_table('supervision_publications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('series', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('published_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['supersedes_id'], ['supervision_publications.id'], name=op.f('fk_supervision_publications_supersedes_id_supervision_publications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_publications')),
    sa.UniqueConstraint('series', 'version', name=op.f('uq_supervision_publications_series'))
    )
    with op.batch_alter_table('supervision_publications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_publications_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_publications_series'), ['series'], unique=False)

    op.create_table('supervision_contracts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('counterparty', sa.String(length=200), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('contact_person', sa.String(length=64), nullable=False),
    sa.Column('contact_phone', sa.String(length=32), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['supervision_lines.id'], name=op.f('fk_supervision_contracts_line_id_supervision_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_contracts')),
    sa.UniqueConstraint('county', 'number', name=op.f('uq_supervision_contracts_county'))
    )
    with op.batch_alter_table('supervision_contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_contracts_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_contracts_line_id'), ['line_id'], unique=False)

    op.create_table('supervision_findings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['inspection_id'], ['supervision_inspections.id'], name=op.f('fk_supervision_findings_inspection_id_supervision_inspections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_findings'))
    )
    with op.batch_alter_table('supervision_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_findings_inspection_id'), ['inspection_id'], unique=False)

    op.create_table('supervision_milestones',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('deliverable', sa.String(length=200), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['line_id'], ['supervision_lines.id'], name=op.f('fk_supervision_milestones_line_id_supervision_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_milestones'))
    )
    with op.batch_alter_table('supervision_milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_milestones_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_milestones_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_milestones_line_id'), ['line_id'], unique=False)

    op.create_table('supervision_reports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('submitted_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.String(length=128), nullable=True),
    sa.Column('reviewed_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.String(length=500), nullable=False),
    sa.Column('publication_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_supervision_reports_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_reports')),
    sa.UniqueConstraint('county', 'org_id', 'month', name=op.f('uq_supervision_reports_county'))
    )
    with op.batch_alter_table('supervision_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_reports_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_reports_org_id'), ['org_id'], unique=False)

    op.create_table('supervision_schedule',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('remind_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reminded_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('overdue_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('done_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_supervision_schedule_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_schedule')),
    sa.UniqueConstraint('county', 'kind', 'ref', name=op.f('uq_supervision_schedule_county'))
    )
    with op.batch_alter_table('supervision_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_schedule_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_schedule_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_schedule_org_id'), ['org_id'], unique=False)

    op.create_table('supervision_disbursements',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('line_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('voucher', sa.String(length=64), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['supervision_contracts.id'], name=op.f('fk_supervision_disbursements_contract_id_supervision_contracts')),
    sa.ForeignKeyConstraint(['line_id'], ['supervision_lines.id'], name=op.f('fk_supervision_disbursements_line_id_supervision_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_disbursements'))
    )
    with op.batch_alter_table('supervision_disbursements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_disbursements_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_disbursements_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_disbursements_line_id'), ['line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_disbursements_month'), ['month'], unique=False)

    op.create_table('supervision_evidence',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('milestone_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('added_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['milestone_id'], ['supervision_milestones.id'], name=op.f('fk_supervision_evidence_milestone_id_supervision_milestones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_evidence'))
    )
    with op.batch_alter_table('supervision_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_evidence_milestone_id'), ['milestone_id'], unique=False)

    op.create_table('supervision_meetings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('minutes', sa.Text(), nullable=False),
    sa.Column('created_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['supervision_schedule.id'], name=op.f('fk_supervision_meetings_schedule_id_supervision_schedule')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_meetings'))
    )
    with op.batch_alter_table('supervision_meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_meetings_county'), ['county'], unique=False)

    op.create_table('supervision_rectifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('action', sa.String(length=500), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('closed_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closure_note', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['finding_id'], ['supervision_findings.id'], name=op.f('fk_supervision_rectifications_finding_id_supervision_findings')),
    sa.ForeignKeyConstraint(['inspection_id'], ['supervision_inspections.id'], name=op.f('fk_supervision_rectifications_inspection_id_supervision_inspections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_rectifications'))
    )
    with op.batch_alter_table('supervision_rectifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_rectifications_county'), ['county'], unique=False)
        batch_op.create_index(batch_op.f('ix_supervision_rectifications_finding_id'), ['finding_id'], unique=False)

    op.create_table('supervision_report_versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('filed_at', cloud.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('filed_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['supervision_reports.id'], name=op.f('fk_supervision_report_versions_report_id_supervision_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_report_versions')),
    sa.UniqueConstraint('report_id', 'version', name=op.f('uq_supervision_report_versions_report_id'))
    )
    with op.batch_alter_table('supervision_report_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_report_versions_report_id'), ['report_id'], unique=False)

    op.create_table('supervision_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('county', sa.String(length=6), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('closed_at', cloud.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['supervision_meetings.id'], name=op.f('fk_supervision_actions_meeting_id_supervision_meetings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_actions'))
    )
    with op.batch_alter_table('supervision_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supervision_actions_meeting_id'), ['meeting_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('supervision_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_actions_meeting_id'))

    op.drop_table('supervision_actions')
    with op.batch_alter_table('supervision_report_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_report_versions_report_id'))

    op.drop_table('supervision_report_versions')
    with op.batch_alter_table('supervision_rectifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_rectifications_finding_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_rectifications_county'))

    op.drop_table('supervision_rectifications')
    with op.batch_alter_table('supervision_meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_meetings_county'))

    op.drop_table('supervision_meetings')
    with op.batch_alter_table('supervision_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_evidence_milestone_id'))

    op.drop_table('supervision_evidence')
    with op.batch_alter_table('supervision_disbursements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_disbursements_month'))
        batch_op.drop_index(batch_op.f('ix_supervision_disbursements_line_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_disbursements_county'))
        batch_op.drop_index(batch_op.f('ix_supervision_disbursements_contract_id'))

    op.drop_table('supervision_disbursements')
    with op.batch_alter_table('supervision_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_schedule_org_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_schedule_due_on'))
        batch_op.drop_index(batch_op.f('ix_supervision_schedule_county'))

    op.drop_table('supervision_schedule')
    with op.batch_alter_table('supervision_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_reports_org_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_reports_county'))

    op.drop_table('supervision_reports')
    with op.batch_alter_table('supervision_milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_milestones_line_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_milestones_due_on'))
        batch_op.drop_index(batch_op.f('ix_supervision_milestones_county'))

    op.drop_table('supervision_milestones')
    with op.batch_alter_table('supervision_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_findings_inspection_id'))

    op.drop_table('supervision_findings')
    with op.batch_alter_table('supervision_contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_contracts_line_id'))
        batch_op.drop_index(batch_op.f('ix_supervision_contracts_county'))

    op.drop_table('supervision_contracts')
    with op.batch_alter_table('supervision_publications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_publications_series'))
        batch_op.drop_index(batch_op.f('ix_supervision_publications_county'))

    op.drop_table('supervision_publications')
    with op.batch_alter_table('supervision_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_lines_county'))

    op.drop_table('supervision_lines')
    with op.batch_alter_table('supervision_inspections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_inspections_county'))

    op.drop_table('supervision_inspections')
    with op.batch_alter_table('supervision_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_evaluations_county'))

    op.drop_table('supervision_evaluations')
    with op.batch_alter_table('supervision_bulletins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supervision_bulletins_county'))

    op.drop_table('supervision_bulletins')
