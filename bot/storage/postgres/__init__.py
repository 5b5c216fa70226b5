"""The PostgreSQL store: many processes and hosts on one database (``DATABASE_URL``)."""
