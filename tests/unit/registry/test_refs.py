"""Model references and path validation: every malformed or escaping input is refused with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_declare.registry import BadReference, ModelRef, parse_model_ref
from mlops_declare.registry.refs import validate_artifact_path, validate_object_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("digits@production", ModelRef("digits", label="production")),
        ("digits@champion", ModelRef("digits", label="champion")),
        ("digits:7", ModelRef("digits", version=7)),
        ("digits:latest", ModelRef("digits", label="latest")),
        ("digits@latest", ModelRef("digits", label="latest")),
        ("my-model.v2_x:12", ModelRef("my-model.v2_x", version=12)),
    ],
)
def test_references_parse(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("digits", "names no version, stage or alias"),
        ("digits:0", "is not a version number"),
        ("digits:07", "is not a version number"),
        ("digits:-1", "is not a version number"),
        ("digits:1.5", "is not a version number"),
        ("digits:", "is not a version number"),
        ("digits@", "stage or alias in 'digits@'"),
        ("digits@prod:1", "mixes '@' and ':'"),
        ("../etc@production", "model name '../etc' is not allowed"),
        ("digits@../../x", "is not allowed"),
        ("%2e%2e%2fx:1", "is not allowed"),
        ("/abs:1", "is not allowed"),
        ("dig its:1", "is not allowed"),
        ("9digits:1", "is not allowed"),
    ],
)
def test_bad_references_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(BadReference, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_model_ref(text)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True), st.integers(1, 2**31 - 1))
def test_version_references_round_trip(name: str, version: int) -> None:
    assert str(parse_model_ref(f"{name}:{version}")) == f"{name}:{version}"


@given(st.text(max_size=30))
def test_parsing_never_fails_with_anything_but_bad_reference(text: str) -> None:
    try:
        parsed = parse_model_ref(text)
    except BadReference:
        return
    assert "/" not in parsed.name and "%" not in parsed.name


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../model.safetensors", "'..'"),
        ("weights/../../escape", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/x", "absolute"),
        ("weights\\x", "absolute"),
        ("%2e%2e/escape", "URL-encoded"),
        ("..%2fescape", "URL-encoded"),
        ("a/%2F/b", "URL-encoded"),
        (".hidden", "must start with"),
        ("a//b", "'//'"),
        ("./a", "'.'"),
        ("", "empty"),
        ("a/" * 9 + "b", "deeper than"),
        ("x" * 600, "longer than"),
        ("name with space", "must start with"),
    ],
)
def test_escaping_artifact_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(BadReference, match=message):
        validate_artifact_path(path)


def test_ordinary_package_paths_are_accepted() -> None:
    for path in ("model.safetensors", "metrics.json", "tokenizer/vocab.txt", "a/b/c_1-2+3=4.bin"):
        assert validate_artifact_path(path) == path


@pytest.mark.parametrize(
    "key",
    [
        "objects/digits/../../x",
        "/objects/digits/" + "a" * 32,
        "objects/../" + "a" * 32,
        "objects/digits/" + "A" * 32,
        "staging/" + "a" * 32 + "/..",
        "objects/digits",
    ],
)
def test_store_keys_must_be_registry_object_keys(key: str) -> None:
    with pytest.raises(BadReference):
        validate_object_key(key)
