"""The model registry: registry name -> class, filled as model modules are imported.

It sits below :mod:`minigen.base` and :mod:`minigen.models` so that neither imports the
other upward: a model module registers itself with :func:`register_model` when it is
imported, and :mod:`minigen.models` (which imports every family) offers the lookups
that need the whole list, :func:`minigen.models.get_model_class` and
:func:`minigen.models.load`.
"""

from __future__ import annotations

__all__ = ["MODEL_REGISTRY", "register_model", "lookup"]

#: registry name -> class, in import order (the order ``minigen models`` and the tour list)
MODEL_REGISTRY: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: make a model known to ``load`` and to the CLI as ``name``."""

    def deco(cls):
        if name in MODEL_REGISTRY and MODEL_REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        MODEL_REGISTRY[name] = cls
        cls._registry_name = name
        return cls

    return deco


def lookup(name: str) -> type:
    """The class registered as ``name``; the error lists the registered names."""
    if name not in MODEL_REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODEL_REGISTRY))}"
        )
    return MODEL_REGISTRY[name]
