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
def artifact_lock(artifact: str | Path):
    """Hold ``artifact``'s lock for the block; :class:`UserError` at once if another process holds it."""
    path = lock_path(artifact)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    release = _take_flock(path, artifact) if fcntl else _take_exclusive(path, artifact)
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        release()


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


def check_not_busy(artifact: str | Path) -> None:
    """:class:`UserError` when another process is writing ``artifact`` (for readers of in-place files)."""
    pid = lock_holder(artifact)
    if pid is not None:
        raise busy(artifact, pid)
