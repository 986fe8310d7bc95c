"""The one way every tool reports a refusal: one message on stderr, no traceback.

Every ``tools/*.py`` runs its ``main`` through ``run_main``. A ``UserInputError``
(a bad file, key or value, and the safe loaders' refusals of checkpoints, saliency
and info files, which all derive from it) raised anywhere below ends the tool with
``<tool>: error: <message>`` and exit status 1, instead of a stack trace. Any other
exception is a bug and keeps its traceback.
"""

import sys

from lzu.infra.errors import UserInputError

__all__ = ["fail", "one_message", "run_main"]


def one_message(error):
    """The text of ``error`` without any stack trace inside it.

    An error re-raised from a DataLoader worker carries the worker's traceback in
    its message: only its last line (the worker's error message) is kept.
    """
    text = str(error).strip()
    if "Traceback (most recent call last)" in text:
        text = text.splitlines()[-1].split(": ", 1)[-1]
    return text or type(error).__name__


def fail(error, prog=None):
    """Exit with status 1 and ``[prog: ]error: <message>`` on stderr."""
    prefix = f"{prog}: " if prog else ""
    sys.exit(f"{prefix}error: {one_message(error)}")


def run_main(main, prog=None, argv=None):
    """Run a tool's ``main(argv)``; a ``UserInputError`` ends it with one message (``fail``)."""
    try:
        return main(argv)
    except UserInputError as err:
        fail(err, prog)
