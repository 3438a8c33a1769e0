"""Domain logic: plain functions used by the web views, the CLI, the worker and the API."""
