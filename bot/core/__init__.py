"""The vocabulary every layer shares: plain data and rules of thumb, no I/O."""
