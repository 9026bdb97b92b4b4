"""``smcheck check``: a policy, the violations of every source, baselines."""
