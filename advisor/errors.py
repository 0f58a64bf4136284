"""The one exception hierarchy. The CLI turns any AdvisorError into a one-line message.

A message says what failed, the offending value, what is allowed, and what to do next.
"""


class AdvisorError(Exception):
    """Root of every error the advisor reports to a user."""

    exit_code = 1


class ModelError(AdvisorError):
    """The model file is missing, unreadable, not ONNX, or not valid ONNX."""


class SettingError(AdvisorError):
    """An unknown compression setting, or one that cannot be applied to this model."""


class NotApplicableError(SettingError):
    """The setting does not apply to this model (e.g. no Conv to prune); the message says why."""


class DataError(AdvisorError):
    """A --data file is missing, malformed or does not match the model's inputs."""


class OutputError(AdvisorError):
    """An output path cannot be written (missing folder, read-only, disk full)."""


class UsageError(AdvisorError):
    """A malformed option value (e.g. a quantity without a unit)."""

    exit_code = 2
