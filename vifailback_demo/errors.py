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


class RobotConnectionError(RobotError, ConnectionError):
    """A robot could not be reached, or was used while not connected."""


class RobotTimeoutError(RobotError, TimeoutError):
    """A robot (controller, bridge, serial line) did not answer within its timeout."""


class RobotProtocolError(RobotError):
    """A robot link answered something its protocol does not allow (garbled line, wrong id, missing field)."""


class RobotStoppedError(RobotError):
    """An action was refused because the robot is emergency-stopped; connect() or reset() clears the stop."""


class CameraError(ViFailbackError):
    """A camera could not be opened or read."""


class CameraTimeoutError(CameraError, TimeoutError):
    """A camera delivered no new frame within its timeout (a stalled stream is this, never a frozen last frame)."""


class PolicyError(ViFailbackError):
    """The VLA policy link failed."""


class PolicyConnectionError(PolicyError, ConnectionError):
    """A policy server could not be reached or closed the connection."""


class PolicyTimeoutError(PolicyError, TimeoutError):
    """A policy server did not answer within its timeout."""


class PolicyServerError(PolicyError):
    """The policy server reported an error (openpi sends it as a text frame, then closes with code 1011)."""


class PolicyProtocolError(PolicyError):
    """A frame did not follow the openpi wire format (msgpack with numpy arrays)."""


class StaleActionError(PolicyError):
    """An action chunk answered an observation older than the robot's current one; it is dropped, never replayed."""


class LiveError(ViFailbackError):
    """A live-supervision request that the current state does not allow, or a run that failed."""
