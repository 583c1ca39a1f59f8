"""User-facing errors.

Anything a user can cause (a missing file, a corrupt graph, a config typo, a
network the chip cannot hold) is raised as :class:`SnnCliError` with a message
that names the problem and what to do.  The CLI prints it on one line and exits
with code 2; library callers can catch it.
"""


class SnnCliError(Exception):
    """A problem with the user's input, reported without a traceback."""
