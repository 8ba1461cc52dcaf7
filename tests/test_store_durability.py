"""What a project-file save promises, asserted on the file-system calls it makes (patched `os`
functions, so the tests hold whatever library formats the TOML): a temp file in the project's folder,
fsynced before it is renamed over the project file, the folder fsynced after; the file's mode kept; and a
crash at any step, injected in-process or by SIGKILL in a child, leaves the old or the new file whole."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from mailmig_tui.core import checklist
from mailmig_tui.core.errors import ProjectChangedOnDiskError
from mailmig_tui.core.project_factory import demo_project
from mailmig_tui.core.store import ProjectStore, load_project
from tests.conftest import FIXED_NOW
from tests.durability import InjectedCrash, Step, assert_old_or_new, crash_points, record_steps

ROOT = Path(__file__).resolve().parent.parent
ITEM = "backup-run"  # not ticked in the demo: the save changes the file


def _fresh(folder: Path, mode: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corp.example.mailmig.toml"
    ProjectStore.create(path, demo_project(FIXED_NOW)).close()
    if mode is not None:
        path.chmod(mode)
    return path


def _save(path: Path) -> None:
    with ProjectStore.open(path, allow_readonly_fallback=False) as store:
        store.update(lambda p: checklist.toggle(p, ITEM))


def _reference(tmp_path: Path) -> tuple[str, str, list[Step]]:
    """The old text, the new text and the steps of one undisturbed save."""
    path = _fresh(tmp_path / "reference")
    old = path.read_text()
    with ProjectStore.open(path) as store, record_steps(path.parent) as steps:
        store.update(lambda p: checklist.toggle(p, ITEM))
    return old, path.read_text(), steps


def test_save_fsyncs_a_temp_file_in_the_folder_renames_it_then_fsyncs_the_folder(tmp_path: Path,
                                                                                 frozen_clock: datetime) -> None:
    old, new, steps = _reference(tmp_path)
    path = Path(os.path.realpath(tmp_path / "reference" / "corp.example.mailmig.toml"))
    folder = str(path.parent)
    assert new != old and load_project(path).item(ITEM).done
    renames = [s for s in steps if s.name in ("replace", "rename") and s.target == str(path)]
    assert len(renames) == 1, f"the project file must be replaced by one rename: {[str(s) for s in steps]}"
    temp = renames[0].path
    assert os.path.dirname(temp) == folder and temp != str(path), "the temp file must be in the project's folder"
    at = steps.index(renames[0])
    assert any(s.name in ("fsync", "fdatasync") and s.path == temp for s in steps[:at]), \
        f"the temp file must be fsynced before the rename: {[str(s) for s in steps]}"
    assert any(s.name == "fsync" and s.path == folder for s in steps[at + 1:]), \
        f"the folder must be fsynced after the rename: {[str(s) for s in steps]}"
    assert not any(s.name in ("replace", "rename") and s.target == str(path) for s in steps[at + 1:])


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_save_keeps_the_file_mode(tmp_path: Path, frozen_clock: datetime, mode: int) -> None:
    path = _fresh(tmp_path, mode)
    _save(path)
    assert path.stat().st_mode & 0o7777 == mode
    assert load_project(path).item(ITEM).done


def test_a_new_project_file_is_private(tmp_path: Path, frozen_clock: datetime) -> None:
    path = _fresh(tmp_path)
    assert path.stat().st_mode & 0o077 == 0


def test_an_error_at_any_step_leaves_the_old_or_the_new_file_and_no_debris(tmp_path: Path,
                                                                           frozen_clock: datetime) -> None:
    old, new, steps = _reference(tmp_path)
    assert len(steps) >= 3
    for n, point in enumerate(crash_points(steps)):
        path = _fresh(tmp_path / f"crash-{n}")
        before = set(path.parent.iterdir())
        with ProjectStore.open(path) as store:
            with record_steps(path.parent, fail=point), pytest.raises(InjectedCrash):
                store.update(lambda p: checklist.toggle(p, ITEM))
            assert_old_or_new(path, old, new, (point, steps[point[0]]))
            debris = set(path.parent.iterdir()) - before - {path.with_name(path.name + ".bak")}
            assert not debris, f"error {point} at {steps[point[0]]}: left {sorted(p.name for p in debris)}"
            if path.read_text() == old:
                # nothing was published: the store is still usable, the next save works
                store.update(lambda p: checklist.toggle(p, "backup-disk"))
                assert load_project(path).item("backup-disk").done
            else:
                # published, then an error (the folder's fsync): the next save may refuse, never clobber
                with contextlib.suppress(ProjectChangedOnDiskError):
                    store.update(lambda p: checklist.toggle(p, "backup-disk"))
                load_project(path)


CHILD = """
import sys
from pathlib import Path
from mailmig_tui.core import checklist
from mailmig_tui.core.store import ProjectStore
from tests.durability import kill_in_child
path, index, when = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
store = ProjectStore.open(path, allow_readonly_fallback=False)
kill_in_child(path.parent, (index, when))
store.update(lambda p: checklist.toggle(p, sys.argv[4]))
print("not killed")
"""


def test_a_kill_at_any_step_leaves_the_old_or_the_new_file_whole(tmp_path: Path, frozen_clock: datetime) -> None:
    old, new, steps = _reference(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outcomes = set()
    for n, (index, when) in enumerate(crash_points(steps)):
        path = _fresh(tmp_path / f"kill-{n}")
        child = subprocess.run([sys.executable, "-c", CHILD, str(path), str(index), when, ITEM],
                               capture_output=True, text=True, env=env, timeout=60)
        assert child.returncode == -9, f"{when} {steps[index]}: {child.stdout}{child.stderr}"
        assert_old_or_new(path, old, new, (when, steps[index]))
        outcomes.add(path.read_text() == new)
        # the dead process's lock does not block the next writer
        with ProjectStore.open(path) as store:
            assert not store.readonly
    assert outcomes == {False, True}, "the kills must land both before and after the rename"
