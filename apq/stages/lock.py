"""One writer per artifact: a lock file beside it, holding the writer's pid.

``artifact_lock(path)`` is held while a stage checks and writes ``path``; a second apq process
(say a user searching two targets at once on one root) that needs to write the same artifact
stops with ``another apq process (pid N) is writing <path>; wait for it`` instead of reading
or overwriting a half-written file. POSIX: ``fcntl.flock`` on ``.<name>.lock``, removed on
release (a killed holder's lock is released by the kernel; the file it leaves is reused).
Elsewhere: the lock file is created exclusively and removed on release; one whose pid is no
longer running is stale.
"""
from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from pathlib import Path

from apq.errors import UserError
from apq.stages.layout import lock_path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

#: Locks this process holds: {lock file: depth}, so a stage may take a lock it already holds.
_HELD: dict[str, int] = {}
#: Seconds a lock is waited for before giving up: another process may hold it only to check
#: that the artifact is up to date (two searches started together), which takes a moment.
WAIT = 5.0


def busy(artifact: str | Path, pid: int | None) -> UserError:
    """The one-line error for an artifact another process is writing."""
    who = f"pid {pid}" if pid else "pid unknown"
    return UserError(f"another apq process ({who}) is writing {artifact}; wait for it")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


@contextmanager
def artifact_lock(artifact: str | Path, wait: float = WAIT):
    """Hold ``artifact``'s lock for the block; :class:`UserError` if another process still holds it
    after ``wait`` seconds."""
    path = lock_path(artifact)
    made = _make_folders(path.parent)
    key = str(path.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    take = _take_flock if fcntl else _take_exclusive
    deadline = time.monotonic() + wait
    while True:
        try:
            release = take(path, artifact)
            break
        except UserError:
            if time.monotonic() >= deadline:
                for folder in made:
                    folder.rmdir()
                raise
            time.sleep(0.1)
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        release()
        for folder in made:  # a refused or failed stage leaves no folder it made only for its lock
            try:
                folder.rmdir()
            except OSError:
                break  # not empty: the stage wrote its artifact there


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir(exist_ok=True)
    return missing


def _take_flock(path: Path, artifact):
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise busy(artifact, _read_pid(path)) from None
            raise
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder before us removed this lock file as we opened it: take the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())

    def release() -> None:
        path.unlink(missing_ok=True)  # while still locked, so nobody locks a file about to vanish
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return release


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _take_exclusive(path: Path, artifact):
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pid = _read_pid(path)
            if pid and _alive(pid):
                raise busy(artifact, pid) from None
            path.unlink(missing_ok=True)  # its holder died: a stale lock
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return lambda: path.unlink(missing_ok=True)
    raise busy(artifact, _read_pid(path))


def lock_holder(artifact: str | Path) -> int | None:
    """Pid of another process writing ``artifact`` now (0 when unknown), or None when nobody is."""
    path = lock_path(artifact)
    if not path.exists() or _HELD.get(str(path.resolve())):
        return None
    if fcntl is None:
        pid = _read_pid(path)
        return pid if pid and _alive(pid) else None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_pid(path) or 0
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def check_not_busy(artifact: str | Path, wait: float = WAIT) -> None:
    """:class:`UserError` when another process is still writing ``artifact`` after ``wait`` seconds
    (for readers of files written in place)."""
    deadline = time.monotonic() + wait
    while (pid := lock_holder(artifact)) is not None:
        if time.monotonic() >= deadline:
            raise busy(artifact, pid)
        time.sleep(0.1)
