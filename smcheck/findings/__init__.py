"""What the metrics mean: verdicts, input findings and the conditions a policy can test."""
