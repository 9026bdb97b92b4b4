"""Reproductions of published numerical experiments, run with smcheck's own arithmetic models."""
