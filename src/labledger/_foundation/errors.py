"""Every error labledger raises on purpose.

The hierarchy::

    LabledgerError                  base of everything below; carries a hint (what to do next)
    ├── ConfigurationError          bad setting, unknown URI scheme, missing optional extra
    ├── WorkspaceError
    │   ├── WorkspaceNotFoundError  no workspace here or above; run `labledger init`
    │   └── WorkspaceUnreadableError  the catalog or store cannot be opened or is newer than us
    ├── NotFoundError               an id or name that does not exist (run, artifact, blob, field...)
    ├── AuthenticationError         no credentials, or a wrong, expired or revoked password or token
    ├── PermissionDeniedError       a known user whose role does not allow the operation
    ├── ValidationError             a value that does not fit (metric, param, metadata value)
    │   ├── ConflictError           a name that exists already, or a value that differs from the stored one
    │   ├── FilterSyntaxError       a search filter that does not parse
    │   ├── UnsupportedValueError   a value no materializer can store (its type, or a part of it)
    │   └── PipelineDefinitionError a pipeline that cannot be built (cycle, missing argument...)
    ├── IntegrityError              a blob whose bytes do not match its digest, a broken ledger chain
    ├── RunStateError               an operation the run's state forbids (logging to a finished run)
    ├── PipelineImportError         the module that defines a pipeline raised while imported
    └── StepFailedError             a pipeline step raised or its worker died; carries the traceback

Each message says what happened and what to do next, on one line, so the CLI can print it as is.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "FilterSyntaxError",
    "IntegrityError",
    "LabledgerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PipelineDefinitionError",
    "PipelineImportError",
    "RunStateError",
    "StepFailedError",
    "UnsupportedValueError",
    "ValidationError",
    "WorkspaceError",
    "WorkspaceNotFoundError",
    "WorkspaceUnreadableError",
]


class LabledgerError(Exception):
    """Base class for errors a user can cause or fix.

    Args:
        message: What happened.
        hint: What to do next; appended to the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigurationError(LabledgerError):
    """A setting, URI or optional dependency is wrong or missing."""


class WorkspaceError(LabledgerError):
    """The workspace cannot be used."""


class WorkspaceNotFoundError(WorkspaceError):
    """No workspace at the given place, nor in any parent folder."""


class WorkspaceUnreadableError(WorkspaceError):
    """The workspace exists but its catalog or store cannot be read."""


class NotFoundError(LabledgerError):
    """A run, artifact, blob or other named thing does not exist."""


class ValidationError(LabledgerError):
    """A value does not fit what it is given to."""


class ConflictError(ValidationError):
    """Something of that name exists already, or differs from what is stored."""


class AuthenticationError(LabledgerError):
    """Who is asking is not known: no credentials, or wrong, expired or revoked ones."""


class PermissionDeniedError(LabledgerError):
    """The user is known, but their role does not allow the operation."""


class FilterSyntaxError(ValidationError):
    """A search filter does not parse; the message points at the offending position."""


class IntegrityError(LabledgerError):
    """Stored bytes or ledger entries do not match their recorded digests."""


class RunStateError(LabledgerError):
    """The operation is not allowed in the run's current state."""


class UnsupportedValueError(ValidationError):
    """A value that no materializer can store as given: its type, or something inside it."""


class PipelineDefinitionError(ValidationError):
    """A pipeline or step is defined or called in a way that cannot build a graph."""


class PipelineImportError(LabledgerError):
    """Importing the module that defines a pipeline raised; ``traceback`` shows the user's frames.

    Args:
        message: What happened, on one line.
        traceback: The error's traceback through the user's own files only.
        hint: What to do next.
    """

    def __init__(self, message: str, *, traceback: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.traceback = traceback


class StepFailedError(LabledgerError):
    """A pipeline step failed; ``node`` names it and ``traceback`` holds the step's traceback.

    Args:
        message: What happened.
        node: The task's name in the pipeline.
        run_id: The run that failed.
        traceback: The step's formatted traceback (from the worker that ran it).
        hint: What to do next.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str,
        run_id: str | None = None,
        traceback: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.node = node
        self.run_id = run_id
        self.traceback = traceback
