"""Trips, stops, waybills and their lifecycle, proof of delivery, waybill PDFs, and the
driver's phone page. Public API for other packages: :mod:`cloud.logistics.waybills.api`."""
