"""shopgraph's benches, one entry each: python -m bench.pages, bench.soak, bench.compare."""
