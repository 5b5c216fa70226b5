"""The web server: provider callbacks, ``/healthz`` and metrics, behind the HTTP guard."""
