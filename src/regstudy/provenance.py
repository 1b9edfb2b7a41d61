"""Which code produced a result: the git commit of the checkout regstudy runs from.

Recorded in every run's metrics.json (and a study's study.json) so that a table or report names
the code behind its numbers; "+dirty" marks tracked files changed since that commit. None for an
installed wheel, a checkout without git, or files git does not track.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parent


def _git(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)


def source_commit(where: Path = PACKAGE_DIR) -> Optional[str]:
    """Short commit of the repository holding `where` (a tracked directory), '+dirty' appended
    when tracked files differ from it; None when there is no such commit."""
    try:
        head = _git(where, "rev-parse", "--short=12", "HEAD")
        tracked = _git(where, "ls-files", "--error-unmatch", ".")
        if head.returncode != 0 or tracked.returncode != 0:
            return None
        dirty = _git(where, "diff", "--quiet", "HEAD").returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")
