"""Model references (`digits@production`, `digits:7`, `digits:latest`) and validation of names and artefact paths.

Everything that becomes part of a storage path passes through here, so nothing a user or a
package supplies can escape the artefact store root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_declare.config.base import NAME_PATTERN
from mlops_declare.registry.errors import BadReference

NAME = re.compile(NAME_PATTERN)
LATEST = "latest"
"""The virtual selector of the newest live version; it can never be a stage or alias name."""

MAX_VERSION = 2**31 - 1
PATH_COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,127}$")
"""One artefact path component: no separators, no '%' escapes, no leading dot (hidden, `.`, `..`)."""
MAX_PATH_DEPTH = 8
MAX_PATH_LENGTH = 512
REFERENCE_FORMS = "NAME@STAGE_OR_ALIAS, NAME:VERSION or NAME:latest (e.g. digits@production, digits:7)"


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name plus exactly one of a version number or a label (stage/alias/latest)."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label}" if self.label != LATEST else f"{self.name}:{LATEST}"

    @property
    def is_latest(self) -> bool:
        return self.label == LATEST


def validate_name(name: str, what: str = "model name") -> str:
    """`name` if it is a safe identifier (a letter, then letters, digits, '_', '.', '-'); else BadReference."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BadReference(
            f"{what} {name!r} is not allowed: use a letter, then up to 63 letters, digits, '_', '.' or '-'"
        )
    return name


def validate_version(version: int | str) -> int:
    """A version number >= 1 (no sign, no leading zeros when given as text)."""
    if isinstance(version, bool):
        raise BadReference(f"version {version!r} is not a positive integer")
    if isinstance(version, str):
        if not re.fullmatch(r"[1-9][0-9]{0,9}", version):
            raise BadReference(f"version {version!r} is not a positive integer")
        version = int(version)
    if not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise BadReference(f"version {version!r} is not a positive integer below {MAX_VERSION}")
    return version


def parse_model_ref(text: str) -> ModelRef:
    """Parse `digits@production`, `digits@champion`, `digits:7` or `digits:latest`; BadReference names the problem."""
    if not isinstance(text, str) or not text:
        raise BadReference(f"model reference {text!r} is empty; expected {REFERENCE_FORMS}")
    if "@" in text and ":" in text:
        raise BadReference(f"model reference {text!r} mixes '@' and ':'; expected {REFERENCE_FORMS}")
    if "@" in text:
        name, _, label = text.partition("@")
        validate_name(name)
        if label == LATEST:
            return ModelRef(name, label=LATEST)
        return ModelRef(name, label=validate_name(label, f"stage or alias in {text!r}"))
    if ":" in text:
        name, _, selector = text.partition(":")
        validate_name(name)
        if selector == LATEST:
            return ModelRef(name, label=LATEST)
        try:
            return ModelRef(name, version=validate_version(selector))
        except BadReference:
            raise BadReference(f"model reference {text!r}: {selector!r} is not a version number or 'latest'") from None
    raise BadReference(f"model reference {text!r} names no version, stage or alias; expected {REFERENCE_FORMS}")


def validate_artifact_path(path: str) -> str:
    """A relative artefact path made of safe components joined by '/'; anything that could escape is refused."""
    if not isinstance(path, str) or not path:
        raise BadReference(f"artefact path {path!r} is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise BadReference(f"artefact path {path[:60]!r}... is longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path):
        raise BadReference(f"artefact path {path!r} is absolute; paths are relative to the package directory")
    components = path.split("/")
    if len(components) > MAX_PATH_DEPTH:
        raise BadReference(f"artefact path {path!r} is deeper than {MAX_PATH_DEPTH} directories")
    for component in components:
        if component in ("", ".", ".."):
            raise BadReference(f"artefact path {path!r} contains {component!r}; '.', '..' and '//' are not allowed")
        if "%" in component:
            raise BadReference(f"artefact path {path!r} contains a '%' escape; URL-encoded names are not allowed")
        if not PATH_COMPONENT.fullmatch(component):
            raise BadReference(
                f"artefact path {path!r}: component {component!r} must start with a letter, digit or '_' and use "
                "only letters, digits and '_.+=-'"
            )
    return path


def validate_object_key(key: str) -> str:
    """A store key such as `objects/digits/<32 hex>`, as written by the registry itself."""
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != "objects" or not re.fullmatch(r"[0-9a-f]{32}", parts[2]):
        raise BadReference(f"artefact location {key!r} is not a registry object key (objects/NAME/ID)")
    validate_name(parts[1])
    return key
