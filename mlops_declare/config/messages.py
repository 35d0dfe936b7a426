"""Turn pydantic validation errors into one actionable line per problem, with did-you-mean."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from mlops_declare.config.trainer import PRECISION_ALIASES

_TYPE_NAMES = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_YAML_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false"}
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def suggest(word: str, options: Sequence[str]) -> str:
    """' (did you mean 'x'?)' when a close option exists, else ''."""
    alias = PRECISION_ALIASES.get(word.lower())
    if alias in options:
        return f" (did you mean {alias!r}?)"
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def allowed_list(options: Sequence[str]) -> str:
    return ", ".join(repr(option) for option in options)


def dotted_path(loc: Sequence[int | str], data: Any) -> str:
    """The YAML path of an error location, without pydantic's union tags and type labels."""
    parts: list[str] = []
    node: Any = data
    reached_leaf = False
    for item in loc:
        if reached_leaf:
            break
        if isinstance(node, Mapping):
            if item in node:
                parts.append(str(item))
                node = node[item]
                continue
            if isinstance(item, str) and node.get("kind") == item:
                continue
            parts.append(str(item))
            reached_leaf = True
        elif isinstance(node, list):
            if isinstance(item, int):
                parts.append(str(item))
                node = node[item] if item < len(node) else None
        else:
            reached_leaf = True
    return ".".join(parts)


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Annotated, Optional and Union flattened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        flattened: list[Any] = []
        for argument in typing.get_args(annotation):
            flattened.extend(_unwrap(argument))
        return flattened
    return [annotation]


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("kind")
    if field is None:
        return None
    arguments = typing.get_args(field.annotation)
    return str(arguments[0]) if arguments else None


def keys_at(root: type[BaseModel], path: Sequence[int | str]) -> list[str]:
    """The keys a mapping at `path` may hold (union members merged when the kind is unknown)."""
    candidates: list[Any] = [root]
    for item in path:
        following: list[Any] = []
        for candidate in candidates:
            for concrete in _unwrap(candidate):
                following.extend(_step(concrete, item))
        candidates = following
    keys: list[str] = []
    for candidate in candidates:
        for concrete in _unwrap(candidate):
            if isinstance(concrete, type) and issubclass(concrete, BaseModel):
                keys.extend(name for name in concrete.model_fields if name not in keys)
    return keys


def _step(concrete: Any, item: int | str) -> list[Any]:
    if isinstance(concrete, type) and issubclass(concrete, BaseModel):
        if _kind_of(concrete) == item:
            return [concrete]
        field = concrete.model_fields.get(str(item))
        return [field.annotation] if field is not None else []
    origin = typing.get_origin(concrete)
    if origin is list:
        return [typing.get_args(concrete)[0]]
    if origin is dict:
        return [typing.get_args(concrete)[1]]
    return []


def _expected_values(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


def _type_hint(expected: str, value: Any) -> str:
    if isinstance(value, str) and _NUMBER.match(value.strip()) and expected in ("a number", "an integer"):
        return f" (the YAML value {value!r} is a quoted string; write it without quotes)"
    if isinstance(value, bool) and expected == "a string":
        return " (YAML reads unquoted yes/no/on/off/true/false as booleans; quote the value, e.g. 'no')"
    if isinstance(value, str) and value.lower() in _YAML_BOOL_WORDS and expected == "true or false":
        return " (a quoted string is not a boolean; write true or false without quotes)"
    if isinstance(value, float) and expected == "an integer":
        return " (write a whole number without a decimal point)"
    return ""


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


def _missing_discriminator(tag: str, value: Any) -> str:
    """The discriminator is absent: name it, and name the key that was probably meant for it (`kindz`)."""
    message = f"required key {tag!r} is missing"
    if isinstance(value, Mapping):
        misspelt = [str(key) for key in value if str(key) != tag and suggest(str(key), [tag])]
        if misspelt:
            message += "; " + "; ".join(f"unknown key {key!r} (did you mean {tag!r}?)" for key in misspelt)
    return message


def error_message(error: Mapping[str, Any], root: type[BaseModel], parent_path: list[Any]) -> str:  # noqa: C901 - budget: one function above the complexity limit when it was set (0.3.0); do not add more
    """One user-facing sentence for one pydantic error."""
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        allowed = keys_at(root, parent_path)
        hint = suggest(key, allowed)
        if hint:
            return f"unknown key {key!r}{hint}"
        return f"unknown key {key!r}; allowed keys: {allowed_list(allowed)}"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        options = _expected_values(str(context.get("expected", "")))
        return f"{value!r} is not allowed; allowed: {allowed_list(options)}{suggest(str(value), options)}"
    if kind == "union_tag_invalid":
        options = _expected_values(str(context.get("expected_tags", "")))
        tag = context.get("tag")
        return f"kind {tag!r} is not allowed; allowed: {allowed_list(options)}{suggest(str(tag), options)}"
    if kind == "union_tag_not_found":
        return _missing_discriminator(str(context.get("discriminator", "'kind'")).strip("'"), value)
    if kind == "finite_number":
        return f"{value!r} is not allowed: .nan and .inf are not numbers a config can use"
    if kind in _TYPE_NAMES:
        expected = _TYPE_NAMES[kind]
        return f"expected {expected}, got {describe(value)}{_type_hint(expected, value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"):
        symbol = {
            "greater_than": ("gt", ">"),
            "greater_than_equal": ("ge", ">="),
            "less_than": ("lt", "<"),
            "less_than_equal": ("le", "<="),
            "multiple_of": ("multiple_of", "a multiple of"),
        }[kind]
        return f"must be {symbol[1]} {context.get(symbol[0])}, got {value!r}"
    if kind in ("too_short", "too_long"):
        bound = context.get("min_length") if kind == "too_short" else context.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"needs {word} {bound} item(s) or character(s)"
    if kind == "string_pattern_mismatch":
        return f"{value!r} does not match the required pattern {context.get('pattern')}"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    return str(error["msg"])


def validation_messages(exc: ValidationError, root: type[BaseModel], data: Any) -> list[tuple[str, str]]:
    """(dotted path, message) pairs, one per problem; alternatives of one union merged."""
    by_path: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        path = dotted_path(loc, data)
        parent = loc[:-1] if error["type"] == "extra_forbidden" else loc
        message = error_message(error, root, parent)
        by_path.setdefault(path, [])
        if message not in by_path[path]:
            by_path[path].append(message)
    return [(path, "; or ".join(messages)) for path, messages in by_path.items()]
