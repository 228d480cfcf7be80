"""The thin Flask layer over xmmdb's SQL functions."""
