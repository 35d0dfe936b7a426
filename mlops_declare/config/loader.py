"""The one bridge from Hydra to pydantic: compose -> resolve -> validate, every error at once."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops_declare.config.messages import allowed_list, keys_at, suggest, validation_messages
from mlops_declare.config.root import GROUPS, ProjectConfig
from mlops_declare.errors import ConfigError, ConfigIssue

COMMAND_LINE = "command line"
CONFIG_NAME = "config"
ENV_REFERENCE = re.compile(r"\$\{oc\.env:[^}]*\}")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus what produced it; `snapshot` is safe to write anywhere."""

    config: ProjectConfig = field(repr=False)
    snapshot: dict[str, Any]
    """The validated config as JSON, with secrets replaced by their `${oc.env:VAR}` reference."""
    choices: dict[str, str | None]
    """Option chosen per config group (e.g. trainer -> cpu), plus the experiment."""
    config_dir: Path | None
    overrides: tuple[str, ...]
    fingerprint: str
    secret_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Secret value -> its `${oc.env:VAR}` reference; never serialised."""
    sources: tuple[_Layer, ...] = field(default=(), repr=False, compare=False)
    """Where each value came from, for error messages."""

    def locate(self, path: str) -> str:
        """The file (or 'command line') that set the dotted `path`."""
        return _file_for(list(self.sources), path) if self.sources else "config"

    def scrub(self, text: str) -> str:
        """`text` with every secret value replaced, for logs and messages."""
        return scrub(text, self.secret_values)


def fingerprint_of(data: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def scrub(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every secret value replaced by its `${oc.env:VAR}` reference."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, secrets[secret])
    return text


def load_config(config_dir: str | Path = "conf", overrides: Sequence[str] = ()) -> LoadedConfig:
    """Compose `config_dir`/config.yaml with Hydra overrides and validate it; raise ConfigError listing every problem."""
    directory = Path(config_dir).resolve()
    display = _display_root(Path(config_dir))
    if not (directory / f"{CONFIG_NAME}.yaml").is_file():
        raise ConfigError(
            [
                ConfigIssue(
                    f"{display}/{CONFIG_NAME}.yaml", "", "not found; run `mlops-declare init DIR` or pass --config-dir"
                )
            ]
        )
    overrides = tuple(overrides)
    rejected = _override_issues(directory, overrides)
    usable = tuple(override for override in overrides if override not in rejected)
    composed, choices, dropped = _compose(directory, display, usable)
    layers = _layers(directory, display, choices, [o for o in usable if o not in dropped])
    override_issues = list(rejected.values())
    override_issues += [ConfigIssue(COMMAND_LINE, path, message) for path, message in dropped.values()]
    value_issues = _missing_and_interpolation_issues(composed, layers)
    if value_issues:
        raise ConfigError(override_issues + value_issues)
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(composed, resolve=False)
    resolved = OmegaConf.to_container(composed, resolve=True, throw_on_missing=True)
    secrets = _secret_values(raw, resolved)
    try:
        loaded = _validate(resolved, secrets, layers, directory, choices, overrides)
    except ConfigError as exc:
        raise ConfigError(override_issues + exc.issues) from None
    if override_issues:
        raise ConfigError(override_issues)
    return loaded


def load_snapshot(snapshot: Mapping[str, Any]) -> LoadedConfig:
    """Validate a snapshot written by the compiler, resolving its `${oc.env:VAR}` references now."""
    from omegaconf import OmegaConf

    composed = OmegaConf.create(dict(snapshot))
    layers = [_Layer("snapshot", (), dict(snapshot))]
    issues = _missing_and_interpolation_issues(composed, layers)
    if issues:
        raise ConfigError(issues)
    resolved = OmegaConf.to_container(composed, resolve=True, throw_on_missing=True)
    secrets = _secret_values(dict(snapshot), resolved)
    return _validate(resolved, secrets, layers, None, {}, ())


def _validate(
    resolved: Any,
    secrets: Mapping[str, str],
    layers: list[_Layer],
    directory: Path | None,
    choices: dict[str, str | None],
    overrides: tuple[str, ...],
) -> LoadedConfig:
    try:
        config = ProjectConfig.model_validate(resolved)
    except ValidationError as exc:
        issues = [
            ConfigIssue(_file_for(layers, path), path, scrub(message, secrets))
            for path, message in validation_messages(exc, ProjectConfig, resolved)
        ]
        raise ConfigError(issues) from None
    snapshot = _redact(config.model_dump(mode="json"), secrets)
    return LoadedConfig(
        config=config,
        snapshot=snapshot,
        choices=choices,
        config_dir=directory,
        overrides=overrides,
        fingerprint=fingerprint_of(snapshot),
        secret_values=secrets,
        sources=tuple(layers),
    )


def _display_root(config_dir: Path) -> str:
    """How files are named in messages: relative to the working directory when inside it, else `conf/...`."""
    absolute = config_dir.resolve()
    try:
        text = absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        text = absolute.name
    return text or "."


def group_options(directory: Path, group: str) -> list[str]:
    """Option names of a config group: the YAML files in conf/<group>/."""
    folder = directory / group
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.yaml"))


def _parse_overrides(overrides: Sequence[str]) -> tuple[list[tuple[str, Any]], dict[str, ConfigIssue]]:
    """(text, parsed override) pairs, and an issue per override whose syntax is wrong."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed: list[tuple[str, Any]] = []
    issues: dict[str, ConfigIssue] = {}
    for override in overrides:
        try:
            parsed.extend((override, item) for item in parser.parse_overrides([override]))
        except OverrideParseException as exc:
            reason = str(exc).split("\n")[0]
            issues[override] = ConfigIssue(
                COMMAND_LINE, override, f"bad override syntax ({reason}); expected key=value, e.g. trainer.max_epochs=5"
            )
    return parsed, issues


def _override_issues(directory: Path, overrides: Sequence[str]) -> dict[str, ConfigIssue]:
    """Override text -> its issue, for bad syntax, sweeps without -m and unknown group options."""
    parsed, issues = _parse_overrides(overrides)
    groups = [*GROUPS, "experiment"]
    for text, override in parsed:
        key = override.key_or_group
        if override.is_sweep_override():
            issues[text] = ConfigIssue(COMMAND_LINE, key, "a sweep (a,b or range) needs multirun: pass -m")
            continue
        if key not in groups or override.is_delete():
            continue
        value = override.value()
        if value is None and key == "experiment":
            continue
        options = group_options(directory, key)
        if not isinstance(value, str) or value not in options:
            issues[text] = ConfigIssue(
                COMMAND_LINE,
                key,
                f"unknown option {value!r} for group {key!r}; allowed: {', '.join(options)}{suggest(str(value), options)}",
            )
    return issues


def _compose(
    directory: Path, display: str, overrides: tuple[str, ...]
) -> tuple[Any, dict[str, str | None], dict[str, tuple[str, str]]]:
    """Compose with Hydra; overrides of unknown keys are dropped, recorded, and composition retried."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf import open_dict
    from yaml import YAMLError

    remaining = list(overrides)
    dropped: dict[str, tuple[str, str]] = {}
    while True:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(directory), version_base=None, job_name="mlops_declare"):
                composed = compose(CONFIG_NAME, overrides=remaining, return_hydra_config=True)
            break
        except MissingConfigException as exc:
            raise ConfigError([_missing_option_issue(directory, display, str(exc))]) from None
        except ConfigCompositionException as exc:
            bad = re.search(r"Could not override '([^']+)'", str(exc))
            culprit = _override_for_key(remaining, bad.group(1)) if bad else None
            if culprit is None:
                raise ConfigError([ConfigIssue(f"{display}/{CONFIG_NAME}.yaml", "", _first_line(exc))]) from None
            assert bad is not None
            path = bad.group(1)
            index = remaining.index(culprit)
            if _is_schema_key(path) and not culprit.startswith("+"):
                # The schema has the key but this YAML leaves it out: add it instead of failing.
                remaining[index] = f"++{culprit}"
                continue
            remaining.pop(index)
            dropped[culprit] = (path, _unknown_override_message(path))
        except YAMLError as exc:
            raise ConfigError(_yaml_issues(directory, display, exc)) from None
        finally:
            GlobalHydra.instance().clear()
    runtime_choices = dict(composed.hydra.runtime.choices)
    choices = {group: runtime_choices.get(group) for group in [*GROUPS, "experiment"] if group in runtime_choices}
    with open_dict(composed):
        del composed["hydra"]
    return composed, choices, dropped


def _override_for_key(overrides: list[str], key: str) -> str | None:
    for override in overrides:
        if override.split("=", 1)[0].lstrip("+~") == key:
            return override
    return None


def _is_schema_key(path: str) -> bool:
    parts = path.split(".")
    return parts[-1] in keys_at(ProjectConfig, parts[:-1])


def _unknown_override_message(path: str) -> str:
    parts = path.split(".")
    allowed = keys_at(ProjectConfig, parts[:-1])
    hint = suggest(parts[-1], allowed)
    if hint:
        return f"unknown key {parts[-1]!r}{hint}"
    if allowed:
        return f"unknown key {parts[-1]!r}; allowed keys: {allowed_list(allowed)}"
    return f"unknown key {parts[-1]!r}"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n")[0]


def _missing_option_issue(directory: Path, display: str, text: str) -> ConfigIssue:
    where = re.search(r"In '([^']+)'", text)
    found = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    file = f"{display}/{where.group(1) if where else CONFIG_NAME}.yaml"
    if not found:
        return ConfigIssue(file, "defaults", text.split("\n")[0])
    group, option = found.group(1), found.group(2)
    options = group_options(directory, group)
    return ConfigIssue(
        file,
        f"defaults.{group}",
        f"unknown option {option!r} for group {group!r}; allowed: {', '.join(options)}{suggest(option, options)}",
    )


def _yaml_issues(directory: Path, display: str, exc: Exception) -> list[ConfigIssue]:
    import yaml

    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    filename = getattr(mark, "name", "") if mark else ""
    file = _display_file(directory, display, filename)
    if "found duplicate key" in str(exc) and filename and os.path.isfile(filename):
        text = Path(filename).read_text(encoding="utf-8")
        duplicates = list(_duplicate_keys(yaml.compose(text), _package_prefix(directory, Path(filename), text)))
        if duplicates:
            return [
                ConfigIssue(file, path, f"duplicate key (line {line}); each key may appear once per mapping")
                for path, line in duplicates
            ]
    line = f"line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or _first_line(exc)
    return [ConfigIssue(file, line, f"invalid YAML: {problem}")]


def _package_prefix(directory: Path, filename: Path, text: str) -> str:
    """The dotted prefix a file's keys land under: its group, unless a `# @package` header says otherwise."""
    header = re.search(r"^#\s*@package\s+(\S+)", text, re.MULTILINE)
    if header:
        return "" if header.group(1) == "_global_" else header.group(1)
    try:
        relative = filename.resolve().relative_to(directory)
    except ValueError:
        return ""
    return ".".join(relative.parts[:-1])


def _display_file(directory: Path, display: str, filename: str) -> str:
    if not filename:
        return display
    try:
        return f"{display}/{Path(filename).resolve().relative_to(directory)}"
    except ValueError:
        return filename


def _duplicate_keys(node: Any, prefix: str = "") -> Iterator[tuple[str, int]]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            if key in seen:
                yield path, key_node.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{prefix}.{index}" if prefix else str(index))


@dataclass
class _Layer:
    """One source of values (a YAML file or the command line) and the key paths it sets."""

    file: str
    package: tuple[str, ...]
    data: Any


def _layers(directory: Path, display: str, choices: dict[str, str | None], overrides: Sequence[str]) -> list[_Layer]:
    """Sources in the order Hydra merges them: config.yaml, group files, the experiment, the command line."""
    from omegaconf import OmegaConf

    layers: list[_Layer] = []

    def add(relative: str, default_package: tuple[str, ...]) -> None:
        path = directory / relative
        if not path.is_file():
            return
        text = path.read_text(encoding="utf-8")
        package = default_package
        header = re.search(r"^#\s*@package\s+(\S+)", text, re.MULTILINE)
        if header:
            package = () if header.group(1) == "_global_" else tuple(header.group(1).split("."))
        data = OmegaConf.to_container(OmegaConf.create(text) or OmegaConf.create({}), resolve=False)
        if isinstance(data, dict):
            data.pop("defaults", None)
        layers.append(_Layer(f"{display}/{relative}", package, data))

    add(f"{CONFIG_NAME}.yaml", ())
    for group in GROUPS:
        option = choices.get(group)
        if option:
            add(f"{group}/{option}.yaml", (group,))
    experiment = choices.get("experiment")
    if experiment:
        add(f"experiment/{experiment}.yaml", ())
    command_line: dict[str, Any] = {}
    parsed, _ = _parse_overrides(overrides)
    for _text, override in parsed:
        key = override.key_or_group
        if key in GROUPS or key == "experiment":
            continue
        node = command_line
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = True
    layers.append(_Layer(COMMAND_LINE, (), command_line))
    return layers


def _depth_defined(layer: _Layer, parts: list[str]) -> int:
    """How many leading parts of `parts` this layer sets (0: none)."""
    if list(layer.package) != parts[: len(layer.package)]:
        return 0
    depth = len(layer.package)
    node = layer.data
    for part in parts[depth:]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
        depth += 1
    return depth


def _file_for(layers: list[_Layer], path: str) -> str:
    """The file that last set `path` (or its deepest set parent)."""
    parts = path.split(".") if path else []
    best_file, best_depth = layers[0].file if layers else "", -1
    for layer in layers:
        depth = _depth_defined(layer, parts)
        if depth and depth >= best_depth:
            best_file, best_depth = layer.file, depth
    return best_file


def _missing_and_interpolation_issues(composed: Any, layers: list[_Layer]) -> list[ConfigIssue]:
    from omegaconf import DictConfig, ListConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    issues: list[ConfigIssue] = []

    def walk(node: Any, prefix: str) -> None:
        keys: Sequence[Any] = list(node.keys()) if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            path = f"{prefix}.{key}" if prefix else str(key)
            if OmegaConf.is_missing(node, key):
                issues.append(
                    ConfigIssue(
                        _file_for(layers, path),
                        path,
                        "missing value ('???'); set it in the file or on the command line",
                    )
                )
                continue
            try:
                value = node[key]
            except OmegaConfBaseException as exc:
                message = str(exc).split("\n")[0]
                issues.append(ConfigIssue(_file_for(layers, path), path, f"cannot resolve interpolation: {message}"))
                continue
            if isinstance(value, (DictConfig, ListConfig)):
                walk(value, path)

    walk(composed, "")
    return issues


def _leaves(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*prefix, index))
    else:
        yield prefix, data


def _lookup(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _secret_values(raw: Any, resolved: Any) -> dict[str, str]:
    """Resolved value -> `${oc.env:VAR}` reference, for every environment reference in the raw config."""
    secrets: dict[str, str] = {}
    for path, value in _leaves(raw):
        if not (isinstance(value, str) and ENV_REFERENCE.search(value)):
            continue
        references = ENV_REFERENCE.findall(value)
        if len(references) == 1 and value.strip() == references[0]:
            resolved_value = _lookup(resolved, path)
            if resolved_value not in (None, "") and not isinstance(resolved_value, bool):
                secrets[str(resolved_value)] = references[0]
            continue
        for reference in references:
            embedded = _env_value(reference)
            if embedded:
                secrets[embedded] = reference
    return secrets


def _env_value(reference: str) -> str | None:
    from omegaconf import OmegaConf

    try:
        value = OmegaConf.create({"v": reference}).v
    except Exception:  # noqa: BLE001 - omegaconf raises several types for an unresolvable reference; None means unknown
        return None
    return None if value in (None, "") else str(value)


def _redact(data: Any, secrets: Mapping[str, str]) -> Any:
    """`data` with each secret value put back as its `${oc.env:VAR}` reference."""
    if not secrets:
        return data
    if isinstance(data, dict):
        return {key: _redact(value, secrets) for key, value in data.items()}
    if isinstance(data, list):
        return [_redact(value, secrets) for value in data]
    if isinstance(data, str):
        return scrub(data, secrets)
    if isinstance(data, (int, float)) and not isinstance(data, bool) and str(data) in secrets:
        return secrets[str(data)]
    return data
