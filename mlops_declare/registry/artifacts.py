"""The artefact store: package files under a root given by a local path or any fsspec URL, with a sha256 manifest.

Layout under the root:
    staging/<id>/...          a registration in progress (or killed: `gc` removes it)
    objects/<name>/<id>/...   a published package; listed only once a version row points at it
Every path is built from validated names and validated relative paths, and on a local store
every component is checked not to be a symlink, so nothing can read or write outside the root.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlops_declare.atomic import fsync_directory
from mlops_declare.registry.errors import BadReference, IntegrityError, RegistryError
from mlops_declare.registry.refs import validate_artifact_path, validate_name, validate_object_key

CHUNK = 1 << 20
STAGING = "staging"
OBJECTS = "objects"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a package: its relative path, sha256 and size."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class StoredObject:
    """A package directory in the store and how long ago it was last written (None when unknown)."""

    key: str
    age_seconds: float | None


def manifest_digest(entries: Iterable[ManifestEntry]) -> str:
    """sha256 of the canonical JSON manifest: the identity of a package's exact bytes."""
    canonical = json.dumps(
        [entry.to_dict() for entry in sorted(entries, key=lambda entry: entry.path)],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sha256_of_stream(stream: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def scan_package(package_dir: str | Path) -> list[ManifestEntry]:
    """The manifest of a package directory; refuses symlinks, special files, unsafe names and empty packages."""
    root = Path(package_dir)
    if not root.is_dir():
        raise RegistryError(f"model package {str(root)!r} is not a directory")
    entries = [_manifest_entry(root, path) for path in _package_files(root)]
    if not entries:
        raise RegistryError(f"model package {str(root)!r} holds no files")
    return sorted(entries, key=lambda entry: entry.path)


def _package_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root, followlinks=False):
        for name in sorted(subdirectories + names):
            path = Path(directory) / name
            mode = path.lstat().st_mode
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise BadReference(
                    f"model package {str(root)!r}: {relative!r} is a symlink (to {os.readlink(path)!r}); "
                    "copy the file into the package instead"
                )
            if stat.S_ISREG(mode):
                files.append(path)
            elif not stat.S_ISDIR(mode):
                raise BadReference(f"model package {str(root)!r}: {relative!r} is not a regular file")
    return files


def _manifest_entry(root: Path, path: Path) -> ManifestEntry:
    relative = validate_artifact_path(path.relative_to(root).as_posix())
    with path.open("rb") as stream:
        digest, size = sha256_of_stream(stream)
    return ManifestEntry(relative, digest, size)


class ArtifactStore:
    """Package directories under one root, local or any fsspec URL."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError) as exc:
            raise RegistryError(f"artefact store {url!r} cannot be opened: {exc}") from None
        self.is_local = "file" in _protocols(self.fs)
        if self.is_local:
            self.root = os.path.realpath(root)
            os.makedirs(self.root, exist_ok=True)
        else:
            self.root = root.rstrip("/")

    # --- paths -----------------------------------------------------------------

    def _join(self, key: str, relative: str | None = None) -> str:
        path = posixpath.join(self.root, key) if relative is None else posixpath.join(self.root, key, relative)
        if self.is_local:
            self._refuse_symlinks(path)
        return path

    def _refuse_symlinks(self, path: str) -> None:
        """Refuse a path that leaves the root or crosses a symlink (someone tampered with the store)."""
        if os.path.commonpath([self.root, os.path.abspath(path)]) != self.root:
            raise IntegrityError(f"artefact path {path!r} is outside the store root {self.root!r}")
        current = self.root
        for component in os.path.relpath(path, self.root).split(os.sep):
            current = os.path.join(current, component)
            if os.path.islink(current):
                raise IntegrityError(f"artefact store {self.url!r}: {current!r} is a symlink; refusing to follow it")

    def object_key(self, name: str, identifier: str) -> str:
        return validate_object_key(f"{OBJECTS}/{validate_name(name)}/{identifier}")

    # --- writing ---------------------------------------------------------------

    def stage(self, package_dir: Path, entries: list[ManifestEntry]) -> str:
        """Copy a package into staging/<id>, fsynced, checking every byte against `entries`; returns the id."""
        identifier = uuid.uuid4().hex
        key = staging_key(identifier)
        try:
            for entry in entries:
                self._copy_in(package_dir / entry.path, key, entry)
            if self.is_local:
                self._fsync_tree(self._join(key))
        except BaseException:
            self.remove(key)
            raise
        return identifier

    def _copy_in(self, source: Path, key: str, entry: ManifestEntry) -> None:
        target = self._join(key, entry.path)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as reader, self.fs.open(target, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                writer.write(chunk)
            if self.is_local:
                writer.flush()
                os.fsync(writer.fileno())
        if (digest.hexdigest(), size) != (entry.sha256, entry.size):
            raise IntegrityError(f"{str(source)!r} changed while it was being registered; register it again")

    def _fsync_tree(self, top: str) -> None:
        for directory, _subdirectories, _names in os.walk(top):
            fsync_directory(directory)

    def publish(self, identifier: str, name: str) -> str:
        """Move staging/<id> to objects/<name>/<id> (an atomic rename on a local store); returns the object key."""
        source = self._join(staging_key(identifier))
        key = self.object_key(name, identifier)
        target = self._join(key)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        if self.is_local:
            os.rename(source, target)
            # The new entry, and objects/<name> itself when this is the model's first version.
            for directory in (os.path.dirname(target), posixpath.join(self.root, OBJECTS), os.path.dirname(source)):
                fsync_directory(directory)
        else:
            self.fs.mv(source, target, recursive=True)
        return key

    def remove(self, key: str) -> None:
        """Delete a staging or object directory (missing is fine)."""
        path = self._join(_validate_key(key))
        if self.is_local:
            if os.path.isdir(path):
                shutil.rmtree(path)
        elif self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    # --- reading and checking --------------------------------------------------

    def problems(self, key: str, entries: list[ManifestEntry]) -> list[str]:
        """Every mismatch between the stored files of `key` and the manifest; empty when intact."""
        _validate_key(key)
        problems: list[str] = []
        for entry in entries:
            problem = self._entry_problem(key, entry)
            if problem:
                problems.append(problem)
        expected = {entry.path for entry in entries}
        problems += [f"{path}: not in the manifest" for path in self._stored_files(key) if path not in expected]
        return problems

    def _entry_problem(self, key: str, entry: ManifestEntry) -> str | None:
        try:
            path = self._join(key, validate_artifact_path(entry.path))
            with self.fs.open(path, "rb") as stream:
                digest, size = sha256_of_stream(stream)
        except FileNotFoundError:
            return f"{entry.path}: missing"
        except (BadReference, IntegrityError) as exc:
            return f"{entry.path}: {exc}"
        if digest != entry.sha256 or size != entry.size:
            return (
                f"{entry.path}: sha256 {digest[:12]}... ({size} bytes), "
                f"manifest says {entry.sha256[:12]}... ({entry.size} bytes)"
            )
        return None

    def _stored_files(self, key: str) -> list[str]:
        top = self._join(key)
        if self.is_local:
            found = []
            for directory, _subdirectories, names in os.walk(top, followlinks=False):
                found += [os.path.relpath(os.path.join(directory, name), top).replace(os.sep, "/") for name in names]
            return found
        if not self.fs.exists(top):
            return []
        return [posixpath.relpath(path, top) for path in self.fs.find(top)]

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._join(key)))

    def fetch(self, key: str, entries: list[ManifestEntry], destination: Path) -> None:
        """Copy a stored package to `destination`, verifying every file's sha256 as it is read."""
        _validate_key(key)
        for entry in entries:
            target = destination / validate_artifact_path(entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                digest, size = self._copy_out(self._join(key, entry.path), target)
            except FileNotFoundError:
                raise IntegrityError(f"artefact {entry.path!r} of {key} is missing from the store") from None
            if digest != entry.sha256 or size != entry.size:
                raise IntegrityError(
                    f"artefact {entry.path!r} of {key} does not match its manifest: sha256 {digest} ({size} bytes), "
                    f"expected {entry.sha256} ({entry.size} bytes)"
                )

    def _copy_out(self, source: str, target: Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        with self.fs.open(source, "rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                writer.write(chunk)
        return digest.hexdigest(), size

    def stored_objects(self) -> list[StoredObject]:
        """Every objects/<name>/<id> and staging/<id> directory, with its age."""
        found: list[StoredObject] = []
        for pattern in (f"{OBJECTS}/*/*", f"{STAGING}/*"):
            for path in sorted(self.fs.glob(posixpath.join(self.root, pattern))):
                key = posixpath.relpath(path, self.root)
                found.append(StoredObject(key, self._age(path)))
        return found

    def _age(self, path: str) -> float | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        modified = info.get("mtime") or info.get("created")
        if isinstance(modified, int | float):
            return max(0.0, time.time() - float(modified))
        return None


def staging_key(identifier: str) -> str:
    return _validate_key(f"{STAGING}/{identifier}")


def _validate_key(key: str) -> str:
    """An object key, or a staging key `staging/<32 hex>`; nothing else is ever read or written."""
    if isinstance(key, str) and re.fullmatch(rf"{STAGING}/[0-9a-f]{{32}}", key):
        return key
    return validate_object_key(key)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
