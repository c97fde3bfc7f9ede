"""Compile the subset of JSON schema that ctoybox publishes into fast check functions.

ctoybox describes each game's state and configuration with a JSON schema (``schema_for_state``,
``schema_for_config``) but checks nothing it is handed in Python: a misfit comes back from Rust as a
``ValueError`` pointing at a column of the JSON text, or aborts the process. :func:`compile_schema`
turns a schema into a function ``(value, path) → problem or None`` whose problems name the path and
the value; :func:`node_at` finds the schema node that governs one path, so a single changed value
can be checked alone (:func:`cfsal.envs.validation.check_changed_values`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: A compiled check: ``(value, path) → problem text, or None when the value fits``.
Check = Callable[[Any, str], "str | None"]

#: Integer formats schemars writes for Rust's integer types, with their inclusive ranges.
INT_FORMATS = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
               "int64": (-2**63, 2**63 - 1), "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
               "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1), "uint": (0, 2**64 - 1)}


def compile_schema(schema: dict[str, Any], definitions: dict[str, Any]) -> Check:
    """The check of ``schema`` (its ``$ref``s resolved in ``definitions``), compiled once."""
    return _compile(schema, definitions, {})


def node_at(schema: dict[str, Any], key: tuple[Any, ...]) -> dict[str, Any] | None:
    """The schema node that governs the value at ``key`` (object keys, ``"*"`` for any list item),
    or None when no single node does (an ``anyOf`` on the way, or per-position item schemas)."""
    definitions = schema.get("definitions", {})
    node: Any = schema
    for part in key:
        node = _navigable(node, definitions)
        if node is None:
            return None
        node = node.get("items") if part == "*" else node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            return None
    return node


def _navigable(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any] | None:
    """The schema node whose ``properties``/``items`` apply below ``node``: ``$ref``s and one-part
    ``allOf``s (how schemars attaches a description to a reference) followed; None where the node
    combines schemas (``anyOf``/``oneOf``/several ``allOf`` parts), whose children cannot be checked alone."""
    for _ in range(50):
        if "$ref" in node:
            node = definitions.get(node["$ref"].rsplit("/", 1)[-1])
        elif len(node.get("allOf", ())) == 1 and not any(k in node for k in ("type", "properties", "items")):
            node = node["allOf"][0]
        else:
            break
        if node is None:
            return None
    if any(k in node for k in ("$ref", "anyOf", "allOf", "oneOf")):
        return None
    return node


def _at(path: str) -> str:
    return path.lstrip("/") or "(the state)"



def _compile(schema: dict[str, Any], definitions: dict[str, Any], named: dict[str, Check]) -> Check:
    """Compile the subset of JSON schema ctoybox uses into a function ``(value, path) → problem or None``.

    Compiled once per game (``$ref``/``allOf`` resolved ahead), so a Space Invaders state with its
    shield pixels checks in about a millisecond rather than re-walking the schema per pixel.
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in named:
            named[name] = lambda value, path: resolved(value, path)  # recursion-safe placeholder
            resolved = _compile(definitions[name], definitions, named)
            named[name] = resolved
        return named[name]
    checks: list[Check] = [_compile(part, definitions, named) for part in schema.get("allOf", ())]
    if "anyOf" in schema:
        options = [_compile(part, definitions, named) for part in schema["anyOf"]]

        def any_of(value: Any, path: str) -> str | None:
            problems = [option(value, path) for option in options]
            if all(p is not None for p in problems):
                return f"{_at(path)}={_short(value)} matches none of its {len(problems)} allowed forms ({problems[0]})"
            return None

        checks.append(any_of)
    if "enum" in schema:
        allowed = schema["enum"]
        checks.append(lambda value, path: None if value in allowed
                      else f"{_at(path)}={_short(value)} is not one of {allowed}")
    if "type" in schema:
        checks.append(_compile_type(schema, definitions, named))
    if len(checks) == 1:
        return checks[0]

    def all_of(value: Any, path: str) -> str | None:
        for check in checks:
            problem = check(value, path)
            if problem is not None:
                return problem
        return None

    return all_of


def _compile_type(schema: dict[str, Any], definitions: dict[str, Any], named: dict[str, Check]) -> Check:
    kinds = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
    if "number" in kinds:
        kinds.append("integer")
    low, high = INT_FORMATS.get(schema.get("format", ""), (-2**63, 2**64 - 1))
    required = tuple(schema.get("required", ()))
    properties = {key: _compile(sub, definitions, named) for key, sub in schema.get("properties", {}).items()}
    items_schema = schema.get("items")
    # draft-07 tuple form (a list of schemas, one per position: Space Invaders' shield (x, y)) or one
    # schema for every item.
    positional = [_compile(part, definitions, named) for part in items_schema] if isinstance(items_schema, list) else None
    items = _compile(items_schema, definitions, named) if isinstance(items_schema, dict) else None
    min_items, max_items = schema.get("minItems", 0), schema.get("maxItems")
    flat = _flat_integer_object(schema, definitions)
    if flat is not None:  # colours (shield pixels): thousands per state, checked in one pass each
        keys, (flat_low, flat_high) = flat

        def check_flat(value: Any, path: str) -> str | None:
            if (type(value) is dict and value.keys() == keys
                    and all(type(v) is int and flat_low <= v <= flat_high for v in value.values())):
                return None
            return f"{_at(path)}={_short(value)} is not {{{', '.join(sorted(keys))}}} with {flat_low} ≤ each ≤ {flat_high}"

        return check_flat

    def check(value: Any, path: str) -> str | None:
        kind = _json_kind(value)
        if kind not in kinds:
            return f"{_at(path)}={_short(value)} is {kind}, expected {' or '.join(dict.fromkeys(kinds))}"
        if kind == "integer":
            if not low <= value <= high:
                return f"{_at(path)}={value} does not fit {schema.get('format')} ({low} ≤ value ≤ {high})"
        elif kind == "number":
            if not math.isfinite(value):
                return f"{_at(path)}={value} is not a finite number"
        elif kind == "object":
            missing = [k for k in required if k not in value]
            if missing:
                return f"{_at(path)} lacks {', '.join(missing)}"
            for key, item in value.items():
                sub = properties.get(key)
                if sub is None:
                    return f"{_at(path + '/' + str(key))} is not a field this game knows"
                problem = sub(item, f"{path}/{key}")
                if problem is not None:
                    return problem
        elif kind == "array":
            if len(value) < min_items or (max_items is not None and len(value) > max_items):
                return f"{_at(path)} has {len(value)} items, expected {min_items}..{max_items}"
            for index, item in enumerate(value):
                item_check = positional[index] if positional is not None and index < len(positional) else items
                if item_check is not None:
                    problem = item_check(item, f"{path}/{index}")
                    if problem is not None:
                        return problem
        return None

    return check


def _flat_integer_object(schema: dict[str, Any], definitions: dict[str, Any]) -> tuple[set[str], tuple[int, int]] | None:
    """(keys, bounds) when ``schema`` is an object of required integers sharing one format (a colour)."""
    properties = schema.get("properties")
    if schema.get("type") != "object" or not properties or set(schema.get("required", ())) != set(properties):
        return None
    formats = {sub.get("format") for sub in properties.values()}
    if len(formats) != 1 or any(sub.get("type") != "integer" for sub in properties.values()):
        return None
    return set(properties), INT_FORMATS.get(formats.pop(), (-2**63, 2**64 - 1))


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

