"""Change: wanted grants and observed members in, a plan out; then its execution, audit, ledger."""
