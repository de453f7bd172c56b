"""The error hierarchy, and that errors say what to do next."""

from __future__ import annotations

import pytest

from labledger._foundation import errors
from labledger._foundation.errors import (
    ConfigurationError,
    FilterSyntaxError,
    IntegrityError,
    LabledgerError,
    NotFoundError,
    RunStateError,
    ValidationError,
    WorkspaceError,
    WorkspaceNotFoundError,
    WorkspaceUnreadableError,
)


def test_every_exported_error_is_a_labledger_error() -> None:
    for name in errors.__all__:
        if name == "error_class":
            continue
        assert issubclass(getattr(errors, name), LabledgerError)
        assert issubclass(getattr(errors, name), Exception)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (WorkspaceNotFoundError, WorkspaceError),
        (WorkspaceUnreadableError, WorkspaceError),
        (FilterSyntaxError, ValidationError),
        (ConfigurationError, LabledgerError),
        (NotFoundError, LabledgerError),
        (IntegrityError, LabledgerError),
        (RunStateError, LabledgerError),
    ],
)
def test_hierarchy(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


def test_hint_is_kept_and_appended_to_the_message() -> None:
    error = NotFoundError("no run with id 'x'", hint="list runs with `labledger runs list`")
    assert error.message == "no run with id 'x'"
    assert error.hint == "list runs with `labledger runs list`"
    assert str(error) == "no run with id 'x' (list runs with `labledger runs list`)"


def test_without_a_hint_the_message_is_the_text() -> None:
    error = ValidationError("bad value")
    assert error.hint is None
    assert str(error) == "bad value"


def test_errors_can_be_raised_and_caught_by_base_class() -> None:
    with pytest.raises(LabledgerError) as caught:
        raise WorkspaceNotFoundError("nothing here", hint="run `labledger init`")
    assert "labledger init" in str(caught.value)
    assert "\n" not in str(caught.value)


def _error_classes() -> list[type[LabledgerError]]:
    return [getattr(errors, name) for name in errors.__all__ if name != "error_class"]


def test_every_error_has_its_own_code_and_the_code_finds_the_class() -> None:
    classes = _error_classes()
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes), "two error classes share a code"
    for cls in classes:
        assert errors.error_class(cls.code) is cls
        raised = cls("boom") if cls is not errors.StepFailedError else cls("boom", node="n")
        assert raised.code == cls.code


def test_an_unknown_code_is_a_plain_labledger_error() -> None:
    assert errors.error_class("no_such_code") is LabledgerError


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (errors.ConflictError, ValidationError),
        (errors.AmbiguousReferenceError, ValidationError),
        (errors.StoreUnavailableError, WorkspaceError),
    ],
)
def test_the_store_errors_keep_old_catches_working(
    child: type[Exception], parent: type[Exception]
) -> None:
    assert issubclass(child, parent)
