"""The one base class for "your input is wrong" errors.

Tools catch ``UserInputError`` and print its message (which names the file,
key or value and what was expected) instead of a stack trace.
"""

__all__ = ["UserInputError"]


class UserInputError(Exception):
    """A file, config key or value given by the user is missing or invalid."""
