"""Results stored under a key of what produced them (issue 36 item 2).

:func:`stored` wraps a pure function of arrays and plain values (a metric's per-slice values, a
volume's per-block sums, a segmentation). Where ``$ARSSR_STORE`` names a folder (``arssr
reproduce`` sets it to ``results/<profile>/cache/store`` for every notebook's kernel), a call
looks its result up in ``<folder>/<function>/<key>.npz`` and computes and writes it (atomically)
only when it is not there; without the variable the function is simply called. So a notebook
rerun after an edit of a table or a plot takes its scores from the store, and every notebook
that needs a score computes it once.

The key hashes every argument (an array by its dtype, shape and bytes; a sequence or mapping by
its items; a dataclass by its fields, less those marked ``metadata={"store_key": False}``;
anything else by its ``repr``) and the code of the
function's package (``arssr_core.metrics`` for a metric; comments and docstrings ignored, as in
the run keys of :mod:`arssr_core.study.pipeline`), so an edit of how a result is computed
misses exactly the entries it could change. Results are arrays, numbers, tuples or dataclasses of
them (:class:`arssr_core.metrics.uncertainty.BlockTerms`), written as ``.npz`` and read back
without pickle.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib
import inspect
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from .io_utils import atomic_path

ENV = "ARSSR_STORE"
F = TypeVar("F", bound=Callable[..., Any])
_CODE: dict[str, str] = {}


def _strip_docs(tree: ast.AST) -> ast.AST:
    """Drop every docstring (module, class, function) from a parsed module."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_text(path: Path) -> str:
    """What of a package file can change results: Python without comments and docstrings (its
    syntax tree), YAML and JSON as parsed data, anything else as it is."""
    text = Path(path).read_text()
    if path.suffix == ".py":
        return ast.dump(_strip_docs(ast.parse(text)), annotate_fields=False, include_attributes=False)
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return json.dumps(yaml.safe_load(text), sort_keys=True, default=str)
    if path.suffix == ".json":
        return json.dumps(json.loads(text), sort_keys=True)
    return text


def package_code(package: str) -> str:
    """Digest of the Python code of a package of ``arssr_core`` (every ``.py`` below it) or of one
    module, comments and docstrings ignored; computed once per process."""
    if package not in _CODE:
        mod = importlib.import_module(package)
        origin = Path(mod.__file__)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        h = hashlib.blake2b(digest_size=16)
        for f in files:
            if "__pycache__" not in f.parts:
                h.update(f.name.encode())
                h.update(code_text(f).encode())
        _CODE[package] = h.hexdigest()
    return _CODE[package]


def _feed(h: "hashlib._Hash", value: Any) -> None:
    """Hash ``value`` into ``h``: by content for arrays, recursively for containers."""
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(f"dc{type(value).__qualname__}".encode())
        for f in dataclasses.fields(value):
            if f.metadata.get("store_key", True):  # a field marked store_key=False says how, not what
                h.update(f.name.encode())
                _feed(h, getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        h.update(f"seq{len(value)}".encode())
        for v in value:
            _feed(h, v)
    elif isinstance(value, dict):
        h.update(f"map{len(value)}".encode())
        for k in sorted(value, key=repr):
            _feed(h, k)
            _feed(h, value[k])
    elif isinstance(value, (np.generic, float, int, bool, str, type(None), slice)):
        h.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"store key: cannot hash an argument of type {type(value).__name__}")


def key_of(name: str, code: str, args: tuple | list, kwargs: dict) -> str:
    """The key of a call: the function's name and code digest, its arguments by content."""
    h = hashlib.blake2b(digest_size=20)
    h.update(name.encode())
    h.update(code.encode())
    _feed(h, list(args))
    _feed(h, dict(kwargs))
    return h.hexdigest()


def _encode(value: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten a result into ``.npz`` entries, with its kind under ``<prefix>__kind__``."""
    if isinstance(value, np.generic):
        value = value.item()  # a NumPy scalar comes back as the Python number it holds
    if isinstance(value, np.ndarray):
        return {f"{prefix}__kind__": np.array("array"), f"{prefix}value": value}
    if isinstance(value, (float, int, bool)):
        return {f"{prefix}__kind__": np.array(type(value).__name__), f"{prefix}value": np.array(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        out = {f"{prefix}__kind__": np.array(f"dataclass:{cls.__module__}:{cls.__qualname__}")}
        for f in dataclasses.fields(value):
            out.update(_encode(getattr(value, f.name), f"{prefix}{f.name}."))
        return out
    if isinstance(value, tuple):
        out = {f"{prefix}__kind__": np.array(f"tuple:{len(value)}")}
        for i, v in enumerate(value):
            out.update(_encode(v, f"{prefix}{i}."))
        return out
    raise TypeError(f"store: cannot keep a result of type {type(value).__name__}")


def _decode(data: Any, prefix: str = "") -> Any:
    kind = str(data[f"{prefix}__kind__"])
    if kind == "array":
        return data[f"{prefix}value"]
    if kind in ("float", "int", "bool"):
        return {"float": float, "int": int, "bool": bool}[kind](data[f"{prefix}value"])
    if kind.startswith("tuple:"):
        return tuple(_decode(data, f"{prefix}{i}.") for i in range(int(kind.split(":")[1])))
    if kind.startswith("dataclass:"):
        _, module, qualname = kind.split(":")
        if not module.startswith("arssr_core."):
            raise ValueError(f"store: refusing to rebuild {module}.{qualname}")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        return cls(**{f.name: _decode(data, f"{prefix}{f.name}.") for f in dataclasses.fields(cls)})
    raise ValueError(f"store: unknown kind {kind!r}")


def store_root() -> Path | None:
    """The folder results are kept in (``$ARSSR_STORE``), or None: no store, compute every call."""
    root = os.environ.get(ENV)
    return Path(root) if root else None


def stored(package: str | None = None, ignore: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Keep a pure function's results in the store (:func:`store_root`) under the key of its
    arguments (defaults filled in; those named in ``ignore``, such as a label for messages, left
    out) and the code of ``package`` (default: the package of the function's module)."""

    def wrap(fn: F) -> F:
        name = f"{fn.__module__}.{fn.__qualname__}"
        pkg = package or fn.__module__.rpartition(".")[0] or fn.__module__
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            root = store_root()
            if root is None:
                return fn(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            key = key_of(name, package_code(pkg), (), {k: v for k, v in bound.arguments.items() if k not in ignore})
            path = root / name / f"{key}.npz"
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        return _decode(data)
                except (OSError, ValueError, KeyError):
                    pass  # a damaged entry is computed again
            value = fn(*args, **kwargs)
            with atomic_path(path, suffix=".npz") as tmp:
                np.savez(tmp, **_encode(value))
            return value

        call.uncached = fn  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return wrap
