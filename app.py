"""The WSGI entry point for any WSGI server: ``app:app``."""

from recruiter import create_app

app = create_app()
