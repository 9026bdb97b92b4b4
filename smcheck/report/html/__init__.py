"""The self-contained HTML report: inline CSS and inline SVG figures, readable offline."""
