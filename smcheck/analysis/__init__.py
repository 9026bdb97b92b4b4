"""The analysis: chunks of rows through every cell, mergeable metrics, gradients, temperature."""
