"""Errors a musician can act on.

Every expected fault (a bad file, a missing port, a bad preset) raises a subclass of
:class:`AntiphonError` whose message says what to do; the command line prints the message
without a traceback.
"""

from __future__ import annotations


class AntiphonError(Exception):
    """Base of every error Antiphon raises on purpose."""


class RepresentationError(AntiphonError):
    """Notes, tokens or bars that the representation cannot express."""


class MidiFileError(AntiphonError):
    """A MIDI file that cannot be read (corrupt, empty, or of an unsupported type)."""


class PortError(AntiphonError):
    """A MIDI port that cannot be opened or found."""


class PresetError(AntiphonError):
    """A preset file with a missing, unknown or badly typed key."""


class ModelError(AntiphonError):
    """A model file that is missing, not ONNX, or of an unknown representation version."""


class NotBuiltError(AntiphonError):
    """A command whose feature is not built yet."""
