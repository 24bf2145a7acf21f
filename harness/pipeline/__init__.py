"""Recipe pipelines: stage bookkeeping (runner) and the method pipelines built on it."""
