"""The schema's side of a check: loading workflow/schemas/config.schema.yaml, one line per
violation, the defaults it gives, and :func:`validate`, which then runs the cross-checks."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .checks import cross_check


def schema_problems(config: Mapping, schema: Mapping) -> list[str]:
    """One line per schema violation: the key path, what is wrong, and what is allowed."""
    import jsonschema  # here: the modules that only read names (nets, io, jobs) need not load it

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append(_describe_violation(error))
    return list(dict.fromkeys(problems))


def _key_path(parts) -> str:
    path = "config"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe_violation(error) -> str:
    where = _key_path(error.absolute_path)
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties" and isinstance(value, Mapping):
        allowed = sorted(schema.get("properties", {}))
        unknown = [key for key in value if key not in allowed]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r}?")
            elif "." in str(key):
                hints.append("--config sets top-level keys only; nest the value, e.g. --config 'evaluation={levels: 5}'")
        hint = f" ({'; '.join(hints)})" if hints else ""
        return f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}{hint}; allowed: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "enum":
        return f"{where}: {value!r} is not allowed; allowed: {', '.join(repr(v) for v in schema['enum'])}"
    if error.validator == "type":
        expected = schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        hint = ""
        if "boolean" in expected and str(value).lower() in ("true", "false"):
            # Snakemake's --config reads True and False as booleans, other spellings as text
            hint = f" (on the command line write {str(value).capitalize()})"
        return f"{where}: {value!r} is not of type {expected}{hint}"
    return f"{where}: {error.message}"


def fill_defaults(config: dict, schema: Mapping) -> None:
    """Top-level keys the schema gives a default for and the config leaves out."""
    for key, spec in schema.get("properties", {}).items():
        if "default" in spec and key not in config:
            config[key] = json.loads(json.dumps(spec["default"]))


def load_schema(path: str | Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def validate(config: dict, schema_path: str | Path) -> None:
    """Check ``config`` against the schema (one line per violation), fill its defaults,
    then run every cross-check the schema cannot express. Raises ConfigError. Plug-in
    defenses are smoke-run apart, where torch is (nets.plugins.smoke_run_defenses)."""
    schema = load_schema(schema_path)
    problems = schema_problems(config, schema)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise ConfigError(f"the configuration has {count}:\n" + "\n".join(f"  {line}" for line in problems))
    fill_defaults(config, schema)
    cross_check(config)
