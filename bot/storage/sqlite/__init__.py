"""SQLite storage: the connection, numbered migrations and the repos that hold all SQL."""
