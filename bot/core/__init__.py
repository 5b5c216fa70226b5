"""The vocabulary every layer shares (request, job, states, errors, clock, ids); no I/O."""
