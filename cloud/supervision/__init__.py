"""Supervision of the 600 万元 programme (issue 15, floor 6): budget, milestones, the
management rhythm, monthly reports, inspections, evaluations, disclosure."""
