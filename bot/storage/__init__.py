"""Storage: the repository Protocols (``protocols``) and their SQLite implementation."""
