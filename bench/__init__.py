"""shopgraph's benches, one entry module each: `python -m bench.pages`, `python -m bench.soak`."""
