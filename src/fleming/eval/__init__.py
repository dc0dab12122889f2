"""Evaluation on the paper's benchmarks: the benchmark table (``benchmarks``), the resumable per-item log
(``items``), the run (``runner``), metrics (``metrics``), results and tables (``results``, ``tables``,
``plots``) and paired comparison of two runs (``compare``). The CLI is ``fleming eval``."""
