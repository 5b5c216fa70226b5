"""Quotas: allowances, bonus credits and budgets (the rules), the admission dry run, and
the blocklist matcher the rules apply."""
