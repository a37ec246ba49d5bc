"""Errors the study raises for bad input: each message names the file and the problem."""


class ArssrError(Exception):
    """Base class for every error the study reports to a user (no traceback needed)."""


class DataError(ArssrError):
    """A volume or data source is missing, unreadable or malformed."""


class SourceUnavailable(DataError):
    """A registry package that holds a data source cannot be obtained."""


class CheckpointError(ArssrError):
    """A checkpoint is missing, corrupt or belongs to another model."""


class RequestError(ArssrError):
    """A super-resolution request is invalid (scale, shape, size, path)."""
