"""Every error labledger raises on purpose.

The hierarchy::

    LabledgerError                  base of everything below; carries a hint (what to do next)
    ├── ConfigurationError          bad setting, unknown URI scheme, missing optional extra
    ├── WorkspaceError
    │   ├── WorkspaceNotFoundError  no workspace here or above; run `labledger init`
    │   ├── SchemaOutdatedError     the catalog's schema is older than this labledger; `labledger migrate`
    │   ├── WorkspaceUnreadableError  the catalog or store cannot be opened or is newer than us
    │   └── StoreUnavailableError   the catalog, blob store or server cannot be reached now
    ├── NotFoundError               an id or name that does not exist (run, artifact, blob, field...)
    ├── AuthenticationError         no credentials, or a wrong, expired or revoked password or token
    ├── PermissionDeniedError       a known user whose role does not allow the operation
    ├── ValidationError             a value that does not fit (metric, param, metadata value)
    │   ├── ConflictError           it exists already, differently (a param, a name, a key)
    │   ├── AmbiguousReferenceError an id prefix that names more than one thing
    │   ├── FilterSyntaxError       a search filter that does not parse
    │   ├── UnsupportedValueError   a value no materializer can store (its type, or a part of it)
    │   └── PipelineDefinitionError a pipeline that cannot be built (cycle, missing argument...)
    ├── IntegrityError              a blob whose bytes do not match its digest, a broken ledger chain
    ├── RunStateError               an operation the run's state forbids (logging to a finished run)
    ├── PipelineImportError         the module that defines a pipeline raised while imported
    └── StepFailedError             a pipeline step raised or its worker died; carries the traceback

Each message says what happened and what to do next, on one line, so the CLI can print it as is.
Each class has a machine-readable ``code`` (``not_found``, ``conflict``...), which the server sends
in its error body and its client maps back to the same class.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousReferenceError",
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
    "SchemaOutdatedError",
    "StepFailedError",
    "StoreUnavailableError",
    "UnsupportedValueError",
    "ValidationError",
    "WorkspaceError",
    "WorkspaceNotFoundError",
    "WorkspaceUnreadableError",
    "error_class",
]


class LabledgerError(Exception):
    """Base class for errors a user can cause or fix.

    Args:
        message: What happened.
        hint: What to do next; appended to the message.

    Attributes:
        code: What kind of error it is, for programs (``not_found``, ``conflict``...).
    """

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigurationError(LabledgerError):
    """A setting, URI or optional dependency is wrong or missing."""

    code = "configuration"


class WorkspaceError(LabledgerError):
    """The workspace cannot be used."""

    code = "workspace"


class WorkspaceNotFoundError(WorkspaceError):
    """No workspace at the given place, nor in any parent folder."""

    code = "workspace_not_found"


class SchemaOutdatedError(WorkspaceError):
    """The catalog's schema is at an older revision than this labledger needs.

    Opening a workspace never migrates it: ``labledger migrate`` (``labledger.migrate()``) does.

    Attributes:
        code: A stable, machine-readable name for this error.
        current: The revision the catalog is at.
        required: The revision this labledger needs.
    """

    code = "schema_outdated"

    def __init__(
        self, message: str, *, current: str = "", required: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.current = current
        self.required = required


class WorkspaceUnreadableError(WorkspaceError):
    """The workspace exists but its catalog or store cannot be read."""

    code = "workspace_unreadable"


class NotFoundError(LabledgerError):
    """A run, artifact, blob or other named thing does not exist."""

    code = "not_found"


class ValidationError(LabledgerError):
    """A value does not fit what it is given to."""

    code = "validation"


class ConflictError(ValidationError):
    """What is being created or set exists already with other content (a param set to another
    value, a name taken, a key registered twice)."""

    code = "conflict"


class AmbiguousReferenceError(ValidationError):
    """An id prefix or name that matches more than one thing."""

    code = "ambiguous_reference"


class StoreUnavailableError(WorkspaceError):
    """The catalog, the blob store or the server cannot be reached now; retrying may succeed."""

    code = "store_unavailable"


class AuthenticationError(LabledgerError):
    """Who is asking is not known: no credentials, or wrong, expired or revoked ones."""

    code = "unauthenticated"


class PermissionDeniedError(LabledgerError):
    """The user is known, but their role does not allow the operation."""

    code = "permission_denied"


class FilterSyntaxError(ValidationError):
    """A search filter does not parse; the message points at the offending position."""

    code = "filter_syntax"


class IntegrityError(LabledgerError):
    """Stored bytes or ledger entries do not match their recorded digests."""

    code = "integrity"


class RunStateError(LabledgerError):
    """The operation is not allowed in the run's current state."""

    code = "run_state"


class UnsupportedValueError(ValidationError):
    """A value that no materializer can store as given: its type, or something inside it."""

    code = "unsupported_value"


class PipelineDefinitionError(ValidationError):
    """A pipeline or step is defined or called in a way that cannot build a graph."""

    code = "pipeline_definition"


class PipelineImportError(LabledgerError):
    """Importing the module that defines a pipeline raised; ``traceback`` shows the user's frames.

    Args:
        message: What happened, on one line.
        traceback: The error's traceback through the user's own files only.
        hint: What to do next.
    """

    code = "pipeline_import"

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

    code = "step_failed"

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


def error_class(code: str) -> type[LabledgerError]:
    """The error class whose ``code`` is ``code``; ``LabledgerError`` for a code nobody claims.

    A client of the server raises what the server raised, by the code in its error body.
    """
    pending: list[type[LabledgerError]] = [LabledgerError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            return cls
        pending.extend(cls.__subclasses__())
    return LabledgerError
