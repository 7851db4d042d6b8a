"""The one exception type the CLI turns into a clear message instead of a traceback."""


class UserError(Exception):
    """Bad input or a missing prerequisite; the message says what was wrong and what to do."""
