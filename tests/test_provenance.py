"""The git commit a run records: the checkout's HEAD, '+dirty' with changed tracked files, and
nothing (None) where git has no commit for the code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from regstudy.provenance import source_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "code.py").write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "pkg")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return tmp_path


def test_clean_checkout_gives_its_head(repo):
    assert source_commit(repo / "pkg") == git(repo, "rev-parse", "--short=12", "HEAD")


def test_changed_tracked_file_is_dirty_and_a_new_commit_is_seen(repo):
    first = source_commit(repo / "pkg")
    (repo / "pkg" / "code.py").write_text("x = 2\n")
    assert source_commit(repo / "pkg") == first + "+dirty"
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    assert source_commit(repo / "pkg") not in (first, None)
    assert not source_commit(repo / "pkg").endswith("+dirty")


def test_untracked_code_and_no_repository_give_none(repo, tmp_path_factory):
    (repo / "site").mkdir()
    (repo / "site" / "other.py").write_text("")
    assert source_commit(repo / "site") is None
    assert source_commit(tmp_path_factory.mktemp("plain")) is None
