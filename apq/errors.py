"""Errors a user can cause. The CLI prints them as one line on stderr and exits with code 2."""


class UserError(Exception):
    """Bad input, missing data, mismatched artifact, infeasible request: say what and how to fix."""

    exit_code = 2
