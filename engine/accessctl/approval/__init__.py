"""Approval: CODEOWNERS, reviews and pull requests from the VCS in, verdicts out."""
