"""Evaluation: metrics with intervals, results files with provenance."""
