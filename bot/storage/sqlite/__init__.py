"""The SQLite store: one file, its numbered migrations, the SQL, and ``SqliteStore``."""
