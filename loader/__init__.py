"""Ingestion (xmmdb load …) and the sample-sky simulator (xmmdb simulate)."""
