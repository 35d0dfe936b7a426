"""Atomic writes: a file (temporary file, fsync, rename) or a whole folder (staged beside its
target, fsynced, swapped in); a reader never sees half a file or half a folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same folder, fsync it, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """`data` as indented, key-sorted JSON, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def fsync_directory(path: str | Path) -> None:
    """Flush a directory's entries (a rename into it) to disk, so the rename survives a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_directory(staging: Path, target: Path) -> None:
    """Move a fully written `staging` folder to `target`, replacing any folder there.

    The old folder is renamed aside under a unique name first (two writers never share a name) and
    put back if the final rename fails, so `target` is always either the old or the new complete
    folder; both renames are flushed to disk.
    """
    staging, target = Path(staging), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.replace(staging, target)
        fsync_directory(target.parent)
        return
    retired = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
    os.replace(target, retired)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(retired, target)
        raise
    fsync_directory(target.parent)
    shutil.rmtree(retired, ignore_errors=True)


def fsync_tree(top: Path) -> None:
    """Flush every file under `top`, then every folder's entries, to disk."""
    for directory, _subdirectories, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        fsync_directory(directory)


@contextlib.contextmanager
def staging_directory(target: Path) -> Iterator[Path]:
    """A new empty folder beside `target` (same file system, so a rename can move it there).

    Whatever the block leaves of it is removed on the way out, success or failure; a block that
    moves it into place leaves nothing to remove. Its name starts with a dot, so listings skip it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}-{os.urandom(6).hex()}")
    # mkdir honours the umask, unlike mkdtemp's 0o700: staged folders are read by other users and services.
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Write a folder's new content into the yielded staging folder; when the block succeeds, its files
    are fsynced and it replaces `target` (`replace_directory`). When the block raises, `target` keeps
    its previous content and the staging folder is removed.

        with staged_directory(output) as staging:
            (staging / "data.parquet").write_bytes(...)
    """
    with staging_directory(target) as staging:
        yield staging
        fsync_tree(staging)
        replace_directory(staging, target)
