"""Flows in PostgreSQL: `flows` (identity and the search columns of the current version), immutable
`flow_versions`, per-account hiding, per-version counters, and matching an intake to flows.

Every statement is one asyncpg statement on the engine's pool (storage.raw). A flow of an account replaces the
shared flow with the same slug for that account, and an account may hide any flow it sees (VISIBLE).
Matching (CANDIDATES) is one statement: the intake's words, each widened to the vocabulary's near spellings
(pg_trgm on `flow_lexicon`), become an OR text-search query over the weighted tsvector, and each matching flow
is scored by how many of the intake's words it holds and where (title above triggers and keywords).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from .raw import Conn

# $1 is the account. A shared flow is replaced, for one account, by that account's flow of the same slug.
VISIBLE = """
    (f.account_id = $1 OR (f.account_id IS NULL AND NOT EXISTS (
        SELECT 1 FROM flows own WHERE own.account_id = $1 AND own.slug = f.slug)))
    AND NOT EXISTS (
        SELECT 1 FROM flow_account_settings h WHERE h.account_id = $1 AND h.flow_id = f.id AND h.hidden)
"""
_FLOW_COLUMNS = (
    "f.id, f.slug, f.account_id, f.title, f.domain, f.tags, f.current_version, f.current_version_id"
)
_STATS = """
    coalesce(s.started, 0) AS started, coalesce(s.resolved, 0) AS resolved,
    coalesce(s.escalated, 0) AS escalated, coalesce(s.left_at, '{}'::jsonb) AS left_at
"""
_LISTING = f"""
    SELECT {_FLOW_COLUMNS}, a.platform AS account_platform, a.external_id AS account_external_id, {_STATS}
      FROM flows f
      LEFT JOIN accounts a ON a.id = f.account_id
      LEFT JOIN flow_version_stats s ON s.version_id = f.current_version_id
"""
_VISIBLE_LISTING = _LISTING + f" WHERE {VISIBLE} ORDER BY f.domain, f.title, f.slug"
_ALL_LISTING = _LISTING + " ORDER BY f.account_id NULLS FIRST, f.domain, f.title, f.slug"
# The flow an account starts by slug: its own first, then the shared one (unless hidden).
_CURRENT_BY_SLUG = f"""
    SELECT {_FLOW_COLUMNS}, v.body FROM flows f JOIN flow_versions v ON v.id = f.current_version_id
     WHERE f.slug = $2 AND {VISIBLE}
"""
_CURRENT_BY_ID = f"""
    SELECT {_FLOW_COLUMNS}, v.body FROM flows f JOIN flow_versions v ON v.id = f.current_version_id
     WHERE f.id = $2 AND {VISIBLE}
"""
_CURRENT_OF = f"""
    SELECT {_FLOW_COLUMNS}, v.body, v.source FROM flows f JOIN flow_versions v ON v.id = f.current_version_id
     WHERE f.id = $1
"""
_VERSION = f"""
    SELECT {_FLOW_COLUMNS}, v.version AS version, v.id AS version_id, v.body
      FROM flow_versions v JOIN flows f ON f.id = v.flow_id WHERE v.id = $1
"""
# A flow by id or slug: for an account, one it sees (hidden ones too when $3); for None (the operator's CLI),
# any flow by id and the shared ones by slug.
_FIND = """
    SELECT f.id FROM flows f
     WHERE (f.id::text = $2 OR f.slug = $2) AND CASE
        WHEN $1::uuid IS NULL THEN f.account_id IS NULL OR f.id::text = $2
        ELSE (f.account_id = $1 OR (f.account_id IS NULL AND NOT EXISTS (
                  SELECT 1 FROM flows own WHERE own.account_id = $1 AND own.slug = f.slug)))
             AND ($3 OR NOT EXISTS (SELECT 1 FROM flow_account_settings h
                                     WHERE h.account_id = $1 AND h.flow_id = f.id AND h.hidden))
     END
     ORDER BY f.account_id NULLS LAST LIMIT 1
"""
_VERSIONS = f"""
    SELECT v.id, v.version, v.content_hash, v.created_at, {_STATS}
      FROM flow_versions v LEFT JOIN flow_version_stats s ON s.version_id = v.id
     WHERE v.flow_id = $1 ORDER BY v.version DESC
"""
# Import: the flow row of (account, slug), locked so two imports of one flow number their versions in turn.
_LOCK_FLOW = """
    SELECT f.id, f.current_version, v.content_hash, v.origin FROM flows f
      JOIN flow_versions v ON v.id = f.current_version_id
     WHERE f.slug = $1 AND f.account_id IS NOT DISTINCT FROM $2 FOR UPDATE OF f
"""
_SEARCH = """
    setweight(to_tsvector('english', $1), 'A') || setweight(to_tsvector('english', $2), 'B')
    || setweight(to_tsvector('english', $3), 'B') || setweight(to_tsvector('english', $4), 'C')
"""
_INSERT_FLOW = f"""
    INSERT INTO flows (id, slug, account_id, title, domain, tags, clients, current_version, current_version_id,
                       search, title_terms)
    VALUES ($5, $6, $7, $8, $9, $10, $11, 1, $12, {_SEARCH}, length(to_tsvector('english', $1)))
"""
_UPDATE_FLOW = f"""
    UPDATE flows SET title = $6, domain = $7, tags = $8, clients = $9, current_version = $10,
                     current_version_id = $11, search = {_SEARCH}, title_terms = length(to_tsvector('english', $1)),
                     updated_at = now()
     WHERE id = $5
"""
_INSERT_VERSION = """
    INSERT INTO flow_versions (id, flow_id, version, body, source, content_hash, origin)
    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
"""
# The lexicon's counts follow a flow's current version: its old words are let go before the new are counted.
# Rows are locked in lexeme order, so two imports sharing words wait for each other instead of deadlocking.
_FORGET_WORDS = """
    WITH old AS (
        SELECT v.lexeme FROM flow_lexicon v
         WHERE v.lexeme = ANY(tsvector_to_array((SELECT search FROM flows WHERE id = $1)))
         ORDER BY v.lexeme FOR UPDATE
    )
    UPDATE flow_lexicon v SET flows = greatest(v.flows - 1, 0) FROM old WHERE v.lexeme = old.lexeme
"""
_LEARN_WORDS = """
    INSERT INTO flow_lexicon AS v (lexeme, flows)
    SELECT lexeme, 1 FROM unnest(tsvector_to_array((SELECT search FROM flows WHERE id = $1))) AS lexeme
     ORDER BY lexeme
    ON CONFLICT (lexeme) DO UPDATE SET flows = v.flows + 1
"""
_HIDE = """
    INSERT INTO flow_account_settings (account_id, flow_id, hidden) VALUES ($1, $2, $3)
    ON CONFLICT (account_id, flow_id) DO UPDATE SET hidden = excluded.hidden
"""
_COUNT = """
    INSERT INTO flow_version_stats AS s (version_id, started, resolved, escalated, left_at)
    VALUES ($1, $2, $3, $4, CASE WHEN $5::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($5::text, 1) END)
    ON CONFLICT (version_id) DO UPDATE SET
        started = s.started + excluded.started,
        resolved = s.resolved + excluded.resolved,
        escalated = s.escalated + excluded.escalated,
        left_at = CASE WHEN $5::text IS NULL THEN s.left_at
                       ELSE s.left_at || jsonb_build_object($5::text, coalesce((s.left_at ->> $5::text)::int, 0) + 1)
                  END
"""

# Weights of where a word was found (tsvector weights A, B, C); a word no flow holds is taken for a misspelling
# of the vocabulary's nearest words ("pasword": "password"), each counting by its similarity.
# 85% of the score is how many of the intake's words the flow holds, and where: three in its title is full
# marks, and an intake of one or two words is judged by those alone, so "vpn" alone still finds the VPN
# flow. 15% is how much of the flow's title the intake covers: of two flows holding the same words, the one
# about just that ("Mapped drive missing") ranks above the broader one ("New user is missing access").
# Speed among many flows: only words held by at most SELECTING flows pick candidates (and, when every word
# is that common, the rarest of them), the candidates are cut to the PRE_RANKED best by ts_rank (in C), and only
# those are scored word by word.
SELECTING = 400
PRE_RANKED = 50
CANDIDATES = f"""
    WITH words AS (
        SELECT DISTINCT lexeme AS word FROM unnest(tsvector_to_array(to_tsvector('english', $2))) AS lexeme
    ),
    meant AS (
        SELECT word, word AS term, 1.0::float8 AS sim FROM words
        UNION
        SELECT w.word, v.lexeme, similarity(v.lexeme, w.word)::float8
          FROM words w JOIN flow_lexicon v ON v.lexeme % w.word
         WHERE length(w.word) >= 4 AND similarity(v.lexeme, w.word) >= 0.4
           AND NOT EXISTS (SELECT 1 FROM flow_lexicon known WHERE known.lexeme = w.word)
    ),
    terms AS (
        SELECT t.term, '''' || replace(replace(t.term, '\\', '\\\\'), '''', '''''') || '''' AS quoted,
               coalesce(v.flows, 0) AS holders,
               row_number() OVER (ORDER BY coalesce(v.flows, 0) = 0, coalesce(v.flows, 0), t.term) AS rarest
          FROM (SELECT DISTINCT term FROM meant) AS t LEFT JOIN flow_lexicon v ON v.lexeme = t.term
    ),
    -- Each meaning as three one-word queries, one per weight: looked up in a flow's tsvector in C.
    weighed AS MATERIALIZED (
        SELECT meant.word, meant.sim, to_tsquery('simple', terms.quoted || ':A') AS in_a,
               to_tsquery('simple', terms.quoted || ':B') AS in_b, to_tsquery('simple', terms.quoted || ':C') AS in_c
          FROM meant JOIN terms ON terms.term = meant.term
    ),
    query AS (
        SELECT to_tsquery('simple', string_agg(quoted, ' | ')
                                    FILTER (WHERE holders <= {SELECTING} OR rarest = 1)) AS selecting,
               to_tsquery('simple', string_agg(quoted, ' | ')) AS every
          FROM terms
    ),
    matched AS (
        SELECT f.id, f.slug, f.title, f.current_version, f.current_version_id, f.search, f.title_terms
          FROM flows f, query
         WHERE query.selecting IS NOT NULL AND f.search @@ query.selecting AND {VISIBLE}
           AND (cardinality(f.clients) = 0 OR lower($3::text) = ANY(f.clients))
         ORDER BY ts_rank('{{0.4, 0.4, 0.7, 1.0}}', f.search, query.every) DESC
         LIMIT {PRE_RANKED}
    ),
    scored AS (
        SELECT m.*, hits.raw, hits.title_hits FROM matched m, LATERAL (
            SELECT coalesce(sum(best), 0) AS raw, count(*) FILTER (WHERE in_title) AS title_hits FROM (
                SELECT max(w.sim * CASE WHEN m.search @@ w.in_a THEN 1.0 WHEN m.search @@ w.in_b THEN 0.7
                                        WHEN m.search @@ w.in_c THEN 0.4 ELSE 0 END) AS best,
                       bool_or(m.search @@ w.in_a) AS in_title
                  FROM weighed w GROUP BY w.word) AS per_word
        ) AS hits
    )
    SELECT id, slug, title, current_version, current_version_id,
           (0.85 * least(1.0, raw / greatest(1, least((SELECT count(*) FROM words), 3)))
            + 0.15 * least(1.0, title_hits::float8 / greatest(title_terms, 1)))::float8 AS score
      FROM scored ORDER BY score DESC, slug LIMIT $4
"""


async def listing(conn: Conn, *, account_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """The flows `account_id` sees (every flow of every account when None), with their current counters."""
    if account_id is None:
        return await conn.fetch(_ALL_LISTING)
    return await conn.fetch(_VISIBLE_LISTING, account_id)


async def current(conn: Conn, *, account_id: uuid.UUID, slug_or_id: str) -> asyncpg.Record | None:
    """The current version of the flow `account_id` sees under this slug or id."""
    try:
        flow_id = uuid.UUID(slug_or_id)
    except ValueError:
        return await conn.fetchrow(_CURRENT_BY_SLUG, account_id, slug_or_id)
    return await conn.fetchrow(_CURRENT_BY_ID, account_id, flow_id)


async def find(
    conn: Conn, *, account_id: uuid.UUID | None, slug_or_id: str, include_hidden: bool = False
) -> uuid.UUID | None:
    """The id of the flow this slug or id names for `account_id` (see _FIND)."""
    found: uuid.UUID | None = await conn.fetchval(_FIND, account_id, slug_or_id, include_hidden)
    return found


async def current_of(conn: Conn, flow_id: uuid.UUID) -> asyncpg.Record | None:
    """A flow's current version, its body and the source it was imported from."""
    return await conn.fetchrow(_CURRENT_OF, flow_id)


async def version(conn: Conn, version_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_VERSION, version_id)


async def versions(conn: Conn, flow_id: uuid.UUID) -> list[asyncpg.Record]:
    """A flow's versions, newest first, each with its counters."""
    return await conn.fetch(_VERSIONS, flow_id)


async def candidates(
    conn: Conn, *, account_id: uuid.UUID, text: str, client_name: str | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(CANDIDATES, account_id, text, client_name, limit)


def _search_args(body: dict[str, Any]) -> tuple[str, str, str, str]:
    match = body.get("match") or {}
    return (
        body["title"],
        "\n".join(match.get("triggers") or ()),
        " ".join(match.get("keywords") or ()),
        " ".join(body.get("tags") or ()),
    )


async def save(
    conn: Conn,
    *,
    account_id: uuid.UUID | None,
    body: dict[str, Any],
    source: str,
    content_hash: str,
    origin: str,
    keep_others: bool = False,
) -> tuple[uuid.UUID, uuid.UUID, int, bool]:
    """Store a flow as its new current version unless its current one has the same content (or, with
    `keep_others`, came from another origin: an engineer's edit of a starter flow stays).

    Returns (flow id, version id, version, changed). Run it inside storage.raw.transaction.
    """
    slug = body["id"]
    search = _search_args(body)
    clients = sorted({c.lower() for c in body.get("clients") or ()})
    tags = list(body.get("tags") or ())
    row = await conn.fetchrow(_LOCK_FLOW, slug, account_id)
    version_id = uuid.uuid4()
    if row is None:
        flow_id, number = uuid.uuid4(), 1
        await conn.execute(
            _INSERT_FLOW, *search, flow_id, slug, account_id, body["title"], body["domain"], tags, clients,
            version_id,
        )  # fmt: skip
    elif row["content_hash"] == content_hash or (keep_others and row["origin"] != origin):
        current_id = await conn.fetchval("SELECT current_version_id FROM flows WHERE id = $1", row["id"])
        return row["id"], current_id, row["current_version"], False
    else:
        flow_id, number = row["id"], row["current_version"] + 1
    await conn.execute(
        _INSERT_VERSION, version_id, flow_id, number, json.dumps(body), source, content_hash, origin
    )
    if number > 1:
        await conn.execute(_FORGET_WORDS, flow_id)
        await conn.execute(
            _UPDATE_FLOW, *search, flow_id, body["title"], body["domain"], tags, clients, number, version_id
        )
    await conn.execute(_LEARN_WORDS, flow_id)
    return flow_id, version_id, number, True


async def set_hidden(conn: Conn, *, account_id: uuid.UUID, flow_id: uuid.UUID, hidden: bool) -> None:
    await conn.execute(_HIDE, account_id, flow_id, hidden)


async def count(
    conn: Conn, version_id: uuid.UUID, *, started: int = 0, resolved: int = 0, escalated: int = 0,
    left_at: str | None = None,
) -> None:  # fmt: skip
    await conn.execute(_COUNT, version_id, started, resolved, escalated, left_at)
