"""Lots (GS1 AI 10): a quantity of one product (GTIN) made or harvested together,
addressed as ``/api/v1/trace/lots/{gtin}/{lot}``. See ``cloud/trace/README.md``."""
