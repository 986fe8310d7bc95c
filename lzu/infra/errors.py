"""The one base class for "your input is wrong" errors.

Tools catch ``UserInputError`` and print its message (which names the file,
key or value and what was expected) instead of a stack trace. ``DataError`` is
the kind every task's data check raises (``lzu.apis.data_check.check_data``).
"""

__all__ = ["DataError", "UserInputError"]


class UserInputError(Exception):
    """A file, config key or value given by the user is missing or invalid."""


class DataError(UserInputError, FileNotFoundError):
    """The data root or an info file is missing or unusable."""
