"""The CRDs in infra/crds/, and a validator that judges a resource as the API server would.

The API server checks a custom resource against the structural OpenAPI schema (JSON Schema,
draft 4 keywords: `exclusiveMinimum: true`), rejects unknown fields (kubectl's default
`--validate=strict`), then runs the CEL rules in `x-kubernetes-validations`, where `self` is
the value at that node typed by the schema (a `number` is always a double).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import yaml
from jsonschema import Draft4Validator

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "infra" / "crds"
EXAMPLES = CRDS / "examples"
RBAC = ROOT / "infra" / "kubernetes" / "rbac"

_CEL = celpy.Environment()


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def crds() -> dict[str, dict[str, Any]]:
    """kind -> CustomResourceDefinition, from every YAML file directly in infra/crds/."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for doc in documents(path):
            if doc.get("kind") == "CustomResourceDefinition":
                found[doc["spec"]["names"]["kind"]] = doc
    return found


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    [version] = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[*]")


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """What would make the API server refuse the CRD as non-structural (the subset of the
    rules that this repository's schemas could break)."""
    problems = []
    for path, node in walk(schema):
        where = path or "<root>"
        if "type" not in node and not (
            node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        ):
            problems.append(f"{where}: no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: both properties and additionalProperties")
        for junctor in ("allOf", "anyOf", "oneOf", "not"):
            if junctor in node:
                problems.append(f"{where}: {junctor} (keep value rules in CEL, with messages)")
        if node.get("type") == "array" and "items" not in node:
            problems.append(f"{where}: array without items")
    return problems


def _typed(schema: dict[str, Any], value: Any) -> Any:
    """The value as the API server hands it to CEL."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            k: _typed(props.get(k) or (extra if isinstance(extra, dict) else {}), v) for k, v in value.items()
        }
    if kind == "array" and isinstance(value, list):
        return [_typed(schema.get("items") or {}, v) for v in value]
    return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _unknown_fields(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    errors: list[str] = []
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            return errors  # e.g. metadata: not ours to judge
        for key, sub in value.items():
            if props is not None and key in props:
                errors += _unknown_fields(props[key], sub, _join(path, key))
            elif isinstance(extra, dict):
                errors += _unknown_fields(extra, sub, _join(path, key))
            else:
                errors.append(f'{path or "<root>"}: unknown field "{key}"')
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _unknown_fields(schema["items"], item, _join(path, i))
    return errors


def _cel_errors(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    errors: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            sub_schema = (schema.get("properties") or {}).get(key)
            if sub_schema is None and isinstance(schema.get("additionalProperties"), dict):
                sub_schema = schema["additionalProperties"]
            if sub_schema is not None:
                errors += _cel_errors(sub_schema, sub, _join(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _cel_errors(schema["items"], item, _join(path, i))
    for rule in schema.get("x-kubernetes-validations") or []:
        program = _CEL.program(_CEL.compile(rule["rule"]))
        # An evaluation error (wrong types in a rule) raises here: that is a broken CRD.
        if not bool(program.evaluate({"self": celpy.json_to_cel(_typed(schema, value))})):
            errors.append(f"{path or '<root>'}: {' '.join(rule['message'].split())}")
    return errors


def _duplicates(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """`x-kubernetes-list-type: set`: the API server refuses a list with a repeated item."""
    errors: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            sub_schema = (schema.get("properties") or {}).get(key)
            if sub_schema is not None:
                errors += _duplicates(sub_schema, sub, _join(path, key))
    elif isinstance(value, list):
        if schema.get("x-kubernetes-list-type") == "set":
            errors += [
                f"{_join(path, i)}: Duplicate value: {item!r}"
                for i, item in enumerate(value)
                if item in value[:i]
            ]
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors += _duplicates(schema["items"], item, _join(path, i))
    return errors


def violations(crd: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Why the API server would refuse `obj`; empty when it would store it."""
    schema = schema_of(crd)
    errors = [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in Draft4Validator(schema).iter_errors(obj)
    ]
    errors += _unknown_fields(schema, obj, "")
    errors += _duplicates(schema, obj, "")
    if errors:
        return errors  # CEL rules run on values the schema accepted
    return _cel_errors(schema, obj, "")


def cel_rules(crd: dict[str, Any]) -> list[str]:
    return [
        rule["rule"]
        for _, node in walk(schema_of(crd))
        for rule in node.get("x-kubernetes-validations") or []
    ]


def compile_rule(rule: str) -> None:
    _CEL.compile(rule)
