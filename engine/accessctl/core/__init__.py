"""Core: the model, errors, time and text helpers every stage shares; imports nothing of ours."""
