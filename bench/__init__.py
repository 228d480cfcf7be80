"""`make bench`: measurements of xmmdb against the obvious alternative, written to bench/results.md."""
