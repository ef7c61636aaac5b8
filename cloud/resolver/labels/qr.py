"""QR codes of Digital Link URIs: moved to :mod:`cloud.web.qr` (floor 2) so that the
waybill PDF (logistics, floor 5) draws them with the same code; re-exported here."""

from cloud.web.qr import QUIET_ZONE, make_qr, qr_matrix, qr_png, qr_svg

__all__ = ["QUIET_ZONE", "make_qr", "qr_matrix", "qr_png", "qr_svg"]
