"""The exception types the CLI turns into a clear message instead of a traceback."""


class UserError(Exception):
    """Bad input or a missing prerequisite; the message says what was wrong and what to do."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: finished fits are
    kept, the session is recorded as interrupted, the CLI exits 143 (128 + SIGTERM)."""
