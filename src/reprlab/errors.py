"""User-facing errors: the command line prints their message on one line and exits non-zero."""


class ReprlabError(Exception):
    """A problem the user can fix; the message names it and says how."""

    exit_code = 1


class ConfigError(ReprlabError, ValueError):
    """A bad option, value or file: exit status 2, as argparse does."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A name that is not in a registry; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(ReprlabError):
    """A data set that is absent, truncated or corrupt."""
