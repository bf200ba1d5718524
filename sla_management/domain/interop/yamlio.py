"""YAML in and out for the rule and SLO files: safe loading, readable dumping. No I/O."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as `|` blocks, so PromQL stays readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A block scalar cannot keep trailing spaces on a line; such strings stay quoted.
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def dump_all(documents: list[Any]) -> str:
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000, explicit_start=True
    )


class YAMLError(ValueError):
    """The text is not YAML; the message says where."""


def load_all(text: str) -> list[Any]:
    """Every document of a (multi-document) YAML text, empty documents dropped."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise YAMLError(f"not valid YAML: {exc}") from exc
