"""The one exception type the backend raises for bad input: its message is the whole story."""


class KoError(Exception):
    """Bad input or a failed step, described in one line: what, where, and what to do."""
