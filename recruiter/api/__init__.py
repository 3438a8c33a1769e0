"""The JSON API, version 1: what the browser does, for an applicant tracking system.

``core`` holds the conventions (declared endpoints, problems, pagination), ``door`` the token
check, ``idempotency`` the replay of repeated POSTs and ``openapi`` the document. Each other
module is one resource, calling the same services the browser's views call.
"""

from . import (  # noqa: F401 - importing a resource module declares its endpoints
    applications,
    audit,
    bounces,
    door,
    filled,
    letters,
    notes,
    openapi,
    organization,
    positions,
    sending,
)
from .core import bp

__all__ = ["bp"]
