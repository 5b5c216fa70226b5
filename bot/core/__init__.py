"""The vocabulary every layer shares: request, job, states, errors, clock, ids, retry; no I/O."""
