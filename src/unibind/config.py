"""Record constructor arguments so that modules can be rebuilt from JSON (no pickling)."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from typing import Any, TypeVar

T = TypeVar("T")


class RecordsInitArgs:
    """Mixin: ``self.init_args`` holds the arguments the outermost ``__init__`` was called with."""

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def recording_init(self: Any, *args: Any, **kw: Any) -> None:
            if not hasattr(self, "_recording_init"):
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                object.__setattr__(self, "_recording_init", True)
                arguments = dict(bound.arguments)
                arguments.pop("self")
                original(self, *args, **kw)
                object.__setattr__(self, "init_args", arguments)
            else:
                original(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]


def class_path(obj: Any) -> str:
    """``module.QualName`` of an object's class."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


#: Modules that moved, so that models and configs saved before a move still load: old name -> new name.
#: Only saved class paths are translated; the old modules themselves are gone.
MOVED_MODULES: dict[str, str] = {
    "unibind.fusion": "unibind.alignment",
    "unibind.fusion.aligner": "unibind.alignment.aligner",
    "unibind.fusion.heads": "unibind.alignment.heads",
    "unibind.fusion.moe": "unibind.alignment.moe",
    "unibind.motion.tmr": "unibind.encoders.tmr",  # the towers; the objective is not saved with a model
}


def import_class(path: str, expected_base: type[T]) -> type[T]:
    """Import ``path`` and check that it names a subclass of ``expected_base``.

    Only classes are resolved, never arbitrary callables, so a saved config cannot run code that is
    not a constructor of the expected kind. A path in a module that has since moved
    (:data:`MOVED_MODULES`) resolves to the class's new home.
    """
    module_name, _, name = path.rpartition(".")
    module_name = MOVED_MODULES.get(module_name, module_name)
    if not module_name:
        raise ValueError(f"class_path must be 'module.Class', got {path!r}")
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import class_path {path!r}: {err}") from err
    if not (isinstance(obj, type) and issubclass(obj, expected_base)):
        raise ValueError(f"class_path {path!r} is not a subclass of {expected_base.__name__}")
    return obj


def to_jsonable(value: Any, where: str) -> Any:
    """Check that ``value`` survives a JSON round trip; tuples become lists."""
    try:
        return json.loads(json.dumps(value))
    except TypeError as err:
        raise TypeError(f"{where} cannot be saved as JSON: {err}") from err
