"""Report: evaluations and outcomes in, tables, summaries, explanations and exports out."""
