"""Name -> implementation tables, in one style for every kind the config names by a string:
models, regularizers, optimizers, learning-rate schedules, Optuna samplers and pruners.

A decorator registers an implementation under a name at import time (as timm's models). A second
registration of a name is refused, since it would silently replace the first; an unknown name
fails naming the config key and the registered names. Torch-free and import-free: a leaf.
"""

from __future__ import annotations

from typing import Callable, Dict, Generic, Tuple, TypeVar

T = TypeVar("T")


def _origin(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry(Generic[T]):
    """The implementations of one kind, keyed by the names the config uses."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind   # what is registered, for the duplicate error: "optimizer"
        self.key = key     # the config key that names one, for the unknown-name error
        self._entries: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (a second `name` is an error)."""
        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice: by "
                                 f"{_origin(self._entries[name])} and by {_origin(obj)}")
            self._entries[name] = obj
            return obj
        return deco

    def names(self) -> Tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        """The implementation of `name`; ValueError naming the key and the choices otherwise."""
        if name not in self._entries:
            raise ValueError(f"{self.key}={name!r} is not one of: {', '.join(self._entries)}")
        return self._entries[name]
