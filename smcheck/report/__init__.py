"""The report: its model (the JSON contract), the phrases of its sentences, and its renderers."""
