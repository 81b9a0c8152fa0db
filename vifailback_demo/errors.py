"""Typed errors for the whole library.

Every message names what was expected, what was seen and, where it helps, what to do.
Only the UI layer turns these into gr.Error / gr.Warning; the CLI prints them as one line.
"""

from __future__ import annotations


class ViFailbackError(Exception):
    """Base class: a user-facing error with a one-line message."""


class SymbolError(ViFailbackError, ValueError):
    """A visual symbol (text line or code dict) is malformed or out of range."""


class AnswerFormatError(ViFailbackError, ValueError):
    """Model output could not be used where a well-formed answer is required."""


class DatasetError(ViFailbackError):
    """A dataset file or record does not follow the ViFailback layout."""


class DatasetPathError(DatasetError):
    """A path inside a record is absolute or escapes the dataset root."""


class ImageError(ViFailbackError):
    """An image file is missing, unreadable or of the wrong shape."""


class VideoError(ViFailbackError):
    """A video could not be opened, decoded, or breaks a size/duration limit."""


class ModelNotFoundError(ViFailbackError):
    """A named model is not available locally (we never download at run time)."""


class BackendError(ViFailbackError):
    """A VLM backend failed to produce text."""


class BackendTimeoutError(BackendError, TimeoutError):
    """A VLM backend did not answer within its timeout."""


class PermanentBackendError(BackendError):
    """A server answer that retrying cannot fix (bad request, authentication, unknown model or path)."""


class StoreError(ViFailbackError):
    """The corrections store refused or could not complete an operation."""


class SimError(ViFailbackError):
    """The synthetic world was asked for something it cannot do."""


class RobotError(ViFailbackError):
    """A robot link failed, timed out, or was asked to act while not allowed."""
