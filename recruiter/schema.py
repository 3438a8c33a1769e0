"""Whether the database has the schema this code needs, for the commands that use it.

An empty database (a fresh instance) is set up at once, as `recruiter serve` does. One that an
older recruiter migrated is never changed behind the operator's back: the command says which
command to run. A database whose tables were made without migrations (``db.create_all()``, as
the tests and benchmarks do) is left as it is.
"""

from __future__ import annotations

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import inspect

from .errors import RecruiterError
from .extensions import db


def ensure_schema() -> str | None:
    """Set up an empty database, refuse one behind the code; what was done, if anything."""
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
        tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    if not current and tables:
        return None  # made from the models, not by migrations
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current == heads:
        return None
    if not current:
        upgrade()
        return f"Set up a new database: {db.engine.url.render_as_string(hide_password=True)}"
    raise RecruiterError(f"The database is at migration {', '.join(sorted(current))} and this "
                         f"recruiter needs {', '.join(sorted(heads))}: run `recruiter db upgrade` "
                         "first.")
