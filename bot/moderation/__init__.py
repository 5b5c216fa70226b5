"""What moderators can change (allowances, bonus, budgets, blocks, the blocklist), audited."""
