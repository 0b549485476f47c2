"""What a plug-in defense class declares, read from its source without importing it: the
workflow's DAG depends on it, and parsing the workflow needs no torch (nets/plugins.py
loads, builds and smoke-runs the class itself)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError

PLUGIN_TRAITS = {"randomized": False, "differentiable": True}  # a plug-in class's declarations and defaults


@functools.lru_cache(maxsize=None)
def declared_traits(file: str, class_name: str) -> dict[str, bool]:
    """What a plug-in defense class declares in its own body (``randomized``,
    ``differentiable``; defaults where absent)."""
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"defense file {file!r} does not exist (paths are relative to the workflow's directory)")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"defense file {file!r} failed to import: SyntaxError: {exc}") from None
    found = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not found:
        raise ConfigError(f"defense file {file!r} has no class {class_name!r}")
    traits = dict(PLUGIN_TRAITS)
    for statement in found[-1].body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            for target in statement.targets:
                if isinstance(target, ast.Name) and target.id in traits:
                    traits[target.id] = bool(statement.value.value)
    return traits


def plugin_differentiable(spec: Mapping) -> bool:
    """False when the method's plug-in defense declares ``differentiable = False`` (nets/plugins.py)."""
    defense = spec.get("defense")
    return defense is None or declared_traits(defense["file"], defense["class"])["differentiable"]


def resolve_defense_files(config: Mapping, workflow_dir: str | Path) -> None:
    """A plug-in defense's relative path names a file in the working directory, or else one
    in the workflow's own directory (so ``examples/`` works from any ``--directory``)."""
    for spec in config.get("methods", {}).values():
        defense = spec.get("defense") if isinstance(spec, Mapping) else None
        if not isinstance(defense, dict) or not isinstance(defense.get("file"), str):
            continue  # the schema names what is wrong
        path = Path(defense["file"])
        if not path.is_absolute() and not path.exists() and (Path(workflow_dir) / path).exists():
            defense["file"] = str(Path(workflow_dir) / path)
