"""Default settings. Override with RECRUITER_* variables or instance/config.py."""

from __future__ import annotations


class DefaultConfig:
    """The embedded defaults: SQLite, a file outbox and an in-process worker."""

    # Filled in by create_app from the instance folder when not set.
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None
    MAIL_URL: str | None = None  # default: file://<instance>/outbox
    QUEUE_URL: str | None = None  # default: sqlite:///<instance>/queue.db
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Failed sign-ins only. Per address: generous, since an office or a NAT shares one. Per
    # account (the email tried, whether or not it exists): strict, and it tells the owner
    # how long to wait.
    LOGIN_RATE_LIMIT = "30 per 15 minutes"
    LOGIN_ACCOUNT_RATE_LIMIT = "10 per 15 minutes"
    PROXY_COUNT = 0  # trusted proxies in front of the app; 1 behind one TLS proxy

    # Request bodies: the CSV upload is capped at 20 MB by its form, everything else at 1 MB.
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024
    FORM_MAX_CONTENT_LENGTH = 1024 * 1024
    # Endpoints allowed the larger cap: the CSV upload, and the API's bulk upsert (5,000 rows).
    UPLOAD_ENDPOINTS = ("candidates.import_csv", "api.upsert_applications_in_bulk",
                        "documents.upload", "documents.import_zip")
    # CVs and cover letters (services/documents.py): the largest file, and what all of one
    # organization's documents may take together.
    DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
    DOCUMENT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024

    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    # None means Secure unless debugging or testing; Flask's own default (False) would hide
    # whether anyone chose it.
    SESSION_COOKIE_SECURE: bool | None = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the session lifetime bounds the token instead

    PAGE_SIZE = "A4"  # or "letter"
    # The letter PDFs and the print bundle: "pdf/a-2a" (archival, tagged), "pdf/a-2b",
    # "pdf/ua-1" or "none" (the plain PDF, untagged and without XMP metadata).
    PDF_VARIANT = "pdf/a-2a"
    LETTERS_PER_PAGE = NOTES_PER_PAGE = CANDIDATES_PER_PAGE = 50  # rows per page of each list
    QUEUE_IMMEDIATE = False  # tests: run tasks inline
    SENDING_TIMEOUT = 600  # seconds before a "sending" row of a dead worker is in doubt
    FREEZE_INLINE_MAX = 200  # bigger batches are frozen by a worker, not in the web request
    PURGE_HOUR = "3"  # the daily purge of data past retention runs at HH:30 UTC
    # The daily signed audit checkpoint (at PURGE_HOUR:45 UTC) goes here; default
    # <instance>/checkpoints. Copy the files somewhere the database's admins cannot write.
    CHECKPOINT_DIR: str | None = None
    SEND_MAX_ATTEMPTS = 8  # retries after 4xx replies or connection failures, then failed
    WEBHOOK_TIMEOUT = 10  # seconds a webhook receiver has to answer
    WEBHOOK_MAX_ATTEMPTS = 8  # tries of one webhook delivery before it is dead
    # Deliveries a worker claims in one commit (the queued one and more of its organization,
    # within the rate limit). 10 brings the commits per letter from 2 to 0.2, which is what
    # makes sending as fast as mailmerge (bench/README.md; larger batches were not measured).
    # A worker that dies mid-batch leaves every claimed letter in doubt, sent or not: at most
    # this many.
    SEND_CLAIM_BATCH = 10
    # DKIM signing of every email as it is frozen (services/dkim_sign.py): all three or none.
    # The key file is a PEM RSA private key (`recruiter mail dkim-keygen` makes one); it is
    # read from the file, never stored in the database.
    DKIM_SELECTOR: str | None = None
    DKIM_DOMAIN: str | None = None
    DKIM_KEY_FILE: str | None = None
