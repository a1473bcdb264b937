"""Measuring instruments, outside the runtime packages: `mentorkb eval` (quality over
several corpora, with baselines from the same run) and `mentorkb bench` (speed as
ratios to floors from the same run). Nothing here is imported by `serve` or ingest."""
