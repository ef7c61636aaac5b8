"""Certificates (floor 4): the 三品一标 certificates (green food, organic, geographical
indication, legacy pollution-free) with the products and bases they cover, their
validity at each event's time (:func:`kinds.valid_at`, :func:`service.certificates_for`)
and their scans; and the 承诺达标合格证 issued per lot (:mod:`.commitment`: required
categories, derived lots, flags for sales without one, printing). See
cloud/trace/README.md.
"""
