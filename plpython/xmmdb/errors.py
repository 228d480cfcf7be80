"""Errors for humans. Raised anywhere in xmmdb; the SQL wrappers turn them
into PostgreSQL errors with the same message, hint and SQLSTATE, the CLI and
the web shim show them as they are."""


class XmmError(Exception):
    """Something the user can fix: the message says what was wrong and where."""

    sqlstate = "22023"  # invalid_parameter_value

    def __init__(self, message: str, hint: str | None = None, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if sqlstate:
            self.sqlstate = sqlstate

    def __str__(self) -> str:
        return self.message


class NotFound(XmmError):
    sqlstate = "02000"  # no_data: a source, spectrum or file that is not in the database
