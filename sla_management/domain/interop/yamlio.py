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


# A file's values, counted as the importers see them: aliases count once per use, so a few
# lines of nested aliases ("billion laughs") cannot make an import walk billions of values.
MAX_VALUES = 500_000
MAX_DEPTH = 64


def _check_size(documents: list[Any]) -> None:
    sizes: dict[int, int] = {}
    total = 0
    for document in documents:
        # Iterative, with the nodes on the current path: self-referencing aliases (`&a [*a]`)
        # have no finite size.
        stack: list[tuple[Any, int, bool]] = [(document, 1, False)]
        on_path: set[int] = set()
        while stack:
            node, depth, done = stack.pop()
            key = id(node)
            if not isinstance(node, dict | list):
                sizes[key] = 1
                continue
            children = list(node.values()) if isinstance(node, dict) else node
            if done:
                on_path.discard(key)
                sizes[key] = 1 + sum(sizes[id(child)] for child in children)
                if sizes[key] > MAX_VALUES:
                    raise YAMLError(f"the file holds more than {MAX_VALUES} values (counting aliases)")
                continue
            if key in sizes:
                continue
            if key in on_path:
                raise YAMLError("the file has a recursive YAML alias")
            if depth > MAX_DEPTH:
                raise YAMLError(f"the file nests values deeper than {MAX_DEPTH}")
            on_path.add(key)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children)
        total += sizes[id(document)]
        if total > MAX_VALUES:
            raise YAMLError(f"the file holds more than {MAX_VALUES} values (counting aliases)")


def load_all(text: str) -> list[Any]:
    """Every document of a (multi-document) YAML text, empty documents dropped. YAMLError: not
    YAML, or deeper or larger than an SLO file has any reason to be."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise YAMLError(f"not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise YAMLError("not valid YAML: nested too deep") from exc
    _check_size(documents)
    return documents
