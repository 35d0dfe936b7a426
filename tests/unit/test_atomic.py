"""The staged-directory helper: a folder's new content is written beside it and swapped in whole, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_declare import atomic
from mlops_declare.atomic import staged_directory, staging_directory


def _contents(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): path.read_text() for path in folder.rglob("*") if path.is_file()}


def _previous(tmp_path: Path) -> Path:
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    return target


def test_success_replaces_the_whole_folder_and_leaves_no_staging(tmp_path: Path) -> None:
    target = _previous(tmp_path)
    with staged_directory(target) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".") and not any(staging.iterdir())
        (staging / "sub").mkdir()
        (staging / "sub" / "new.txt").write_text("new")
        (staging / "top.txt").write_text("top")
        assert _contents(target) == {"old.txt": "old"}  # readers see the previous folder until the swap
    assert _contents(target) == {"sub/new.txt": "new", "top.txt": "top"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_new_target_and_its_parents_are_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out"
    with staged_directory(target) as staging:
        (staging / "f.txt").write_text("x")
    assert _contents(target) == {"f.txt": "x"}
    # Created with the umask's permissions, not mkdtemp's private 0o700: other users and services read it.
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask


def test_failure_leaves_the_previous_content_and_no_staging_folder(tmp_path: Path) -> None:
    target = _previous(tmp_path)
    with pytest.raises(RuntimeError, match="encoding failed"):
        with staged_directory(target) as staging:
            (staging / "half.txt").write_text("half")
            raise RuntimeError("encoding failed")
    assert _contents(target) == {"old.txt": "old"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_a_failed_swap_leaves_the_previous_content_and_no_staging_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _previous(tmp_path)

    def broken(_staging: Path, _target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "replace_directory", broken)
    with pytest.raises(OSError, match="disk full"):
        with staged_directory(target) as staging:
            (staging / "new.txt").write_text("new")
    assert _contents(target) == {"old.txt": "old"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_every_staged_file_is_fsynced_before_the_swap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda descriptor: (synced.append(descriptor), real_fsync(descriptor)))
    target = tmp_path / "out"
    with staged_directory(target) as staging:
        (staging / "sub").mkdir()
        for name in ("a", "b", "sub/c"):
            (staging / name).write_text(name)
        synced.clear()
    # Three files and two folders (the staging folder and sub/), then the parent after the rename.
    assert len(synced) == 6


def test_a_staging_folder_that_was_moved_away_is_not_an_error(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "copy"
    with staging_directory(target) as scratch:
        (scratch / "f").write_text("f")
        os.replace(scratch, target)
    assert _contents(target) == {"f": "f"}
    with staging_directory(target) as scratch:
        (scratch / "g").write_text("g")
    assert sorted(path.name for path in target.parent.iterdir()) == ["copy"]
