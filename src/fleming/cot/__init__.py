"""Chain-of-thought data for the cold start (paper §3.2)."""
