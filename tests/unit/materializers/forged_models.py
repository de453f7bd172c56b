"""Forged skops archives: a fitted model with a payload node put into its JSON schema.

Each payload names a callable that would run code (or unpickle, or import) if skops called it;
the code it would run creates ``canary``, so a test can tell whether anything ran.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from labledger.materializers.models import canonical_skops

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

X = np.random.default_rng(2).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)
CANARY_MODULE = "labledger_canary_module"


def value(item: Any) -> dict[str, Any]:
    """The skops node for a plain value."""
    if isinstance(item, dict):
        return {
            "__class__": "dict",
            "__module__": "builtins",
            "__loader__": "DictNode",
            "content": {key: value(inner) for key, inner in item.items()},
            "key_types": value([type(key).__name__ for key in item]),
        }
    if isinstance(item, (list, tuple)):
        kind = type(item).__name__
        return {
            "__class__": kind,
            "__module__": "builtins",
            "__loader__": f"{kind.capitalize()}Node",
            "content": [value(inner) for inner in item],
        }
    return {
        "__class__": type(item).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(item),
        "is_json": True,
    }


def call(module: str, name: str, *args: Any) -> dict[str, Any]:
    """A node skops loads by calling ``module.name(*args)``."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": value(args),
    }


def function(module: str, name: str) -> dict[str, Any]:
    """A node skops loads as the function ``module.name`` itself."""
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


class _Exec:
    """Pickles to a call of ``exec``: what a forged pickle does when it is read."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (self.code,))


def payloads(folder: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    """Payload nodes by name; each creates ``folder / "canary"`` if it ever runs."""
    canary = folder / "canary"
    code = f"open({str(canary)!r}, 'w').close()"

    def pickled() -> str:
        path = folder / "payload.pkl"
        path.write_bytes(pickle.dumps(_Exec(code)))
        return str(path)

    def script() -> str:
        path = folder / "payload.py"
        path.write_text(code + "\n")
        return str(path)

    def module() -> str:
        (folder / f"{CANARY_MODULE}.py").write_text(code + "\n")
        return CANARY_MODULE

    return {
        "builtins.eval": lambda: call("builtins", "eval", code),
        "builtins.exec": lambda: call("builtins", "exec", code),
        "os.system": lambda: call("os", "system", f"touch {canary}"),
        "subprocess.Popen": lambda: call("subprocess", "Popen", ["touch", str(canary)]),
        "importlib.import_module": lambda: call("importlib", "import_module", module()),
        "runpy.run_path": lambda: call("runpy", "run_path", script()),
        "numpy-runstring": lambda: call("numpy.testing._private.utils", "runstring", code, {}),
        "numpy-runstring-reference": lambda: function("numpy.testing._private.utils", "runstring"),
        "numpy.load-allow_pickle": lambda: call("numpy", "load", pickled(), None, True),
        "pandas.read_pickle": lambda: call("pandas.io.pickle", "read_pickle", pickled()),
        "pandas.testing-reference": lambda: function("pandas.testing", "assert_frame_equal"),
        "numpy-ufunc-called": lambda: call("numpy", "log1p", 1.0),
        "builtins.eval-reference": lambda: function("builtins", "eval"),
        "operator.methodcaller": lambda: {
            "__class__": "methodcaller",
            "__module__": "operator",
            "__loader__": "OperatorFuncNode",
            "attrs": value(("system", f"touch {canary}")),
        },
        "functools.partial": lambda: {
            "__class__": "partial",
            "__module__": "functools",
            "__loader__": "PartialNode",
            "content": {
                "func": function("builtins", "exec"),
                "args": value((code,)),
                "kwds": value({}),
                "namespace": value({}),
            },
        },
    }


def model() -> LogisticRegression:
    return LogisticRegression().fit(X, Y)


def forge(data: bytes, payload: dict[str, Any]) -> bytes:
    """``data`` (a skops model archive) with ``payload`` as the value of one of its parameters."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    schema = json.loads(members["schema.json"])
    schema["content"]["content"]["C"] = payload
    members["schema.json"] = json.dumps(schema).encode()
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as target:
        for name, content in members.items():
            target.writestr(name, content)
    return sink.getvalue()


def forged_model(payload: dict[str, Any]) -> bytes:
    return forge(canonical_skops(sio.dumps(model())), payload)
