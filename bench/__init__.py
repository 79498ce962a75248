"""shopgraph's benches, one entry each: python -m bench.pages, bench.soak, bench.compare,
bench.overload, bench.latency and bench.steady."""
