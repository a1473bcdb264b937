"""The `mentorkb` command: wires settings, ingest, rag and ui together."""
