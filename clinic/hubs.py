"""Extension points ("hubs"), in one shape and one index.

A room may import only rooms below it (tests/test_layers.py). When it needs something from the
rooms above (the patient page shows their sections, an export carries their files), it offers
a hub, and each room above registers into it from its ``AppConfig.ready``. Every hub is listed
in ``HUBS`` by its name, so a reader finds every extension point and what is plugged into it in
one place: ``python manage.py hubs`` prints them, and tests/test_hubs.py holds the wiring.

An entry is registered under a name (registering the same name again replaces it, so a second
``ready`` adds nothing) and an order; ``entries()`` gives them by order, then name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Every hub, by name (filled as each hub module is imported).
HUBS: dict[str, Hub] = {}


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    order: int
    value: T
    module: str  # where the value was written, for the index


class Hub(Generic[T]):
    """One extension point: ``name`` (its room's, dotted) and what it is for, in words."""

    def __init__(self, name: str, purpose: str) -> None:
        if name in HUBS:
            raise ValueError(f"a hub named {name!r} exists already")
        self.name = name
        self.purpose = purpose
        self._entries: dict[str, Entry[T]] = {}
        HUBS[name] = self

    def register(self, name: str, value: T, *, order: int = 0) -> None:
        """Add ``value`` under ``name`` (replacing one of that name); from a ready()."""
        self._entries[name] = Entry(name, order, value, _origin(value))

    def entries(self) -> list[Entry[T]]:
        return sorted(self._entries.values(), key=lambda e: (e.order, e.name))

    def values(self) -> list[T]:
        return [entry.value for entry in self.entries()]

    def names(self) -> list[str]:
        return [entry.name for entry in self.entries()]

    def __repr__(self) -> str:
        return f"<Hub {self.name}: {', '.join(self.names()) or 'nothing registered'}>"


def assemble(sections: Iterable[Any], *args: Any) -> tuple[list[str], dict[str, Any]]:
    """A page's sections from a hub (each with ``template`` and ``context(*args)``), in order:
    their templates, and their contexts merged into one."""
    templates: list[str] = []
    context: dict[str, Any] = {}
    for section in sections:
        templates.append(section.template)
        context.update(section.context(*args))
    return templates, context


def _origin(value: object) -> str:
    """The module whose code an entry runs: a function's own, or that of the first function
    a dataclass entry (a panel, a part) or a tuple holds."""
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__module__", "?")
    if is_dataclass(value):
        members = [getattr(value, f.name) for f in fields(value)]
    elif isinstance(value, tuple):
        members = list(value)
    else:
        members = []
    for member in members:
        if callable(member):
            return getattr(member, "__module__", "?")
    return type(value).__module__
