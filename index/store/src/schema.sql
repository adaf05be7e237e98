-- ctx store schema. SQLite is the source of truth; the tantivy index is rebuilt from it.
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per connector ever seen: its cursor and sync health.
CREATE TABLE IF NOT EXISTS sources (
    name            TEXT PRIMARY KEY,
    type_name       TEXT NOT NULL,
    cursor          TEXT,
    last_success_ms INTEGER,
    last_error      TEXT,
    last_error_ms   INTEGER
) WITHOUT ROWID;

-- Items, live and tombstoned (deleted = 1 keeps the id and the change history).
CREATE TABLE IF NOT EXISTS items (
    rowid         INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    locator       TEXT NOT NULL,
    timestamp_ms  INTEGER,
    people        TEXT NOT NULL,   -- JSON array of PersonRef, for rendering
    organizations TEXT NOT NULL,   -- JSON array of OrgRef
    fields        TEXT NOT NULL,   -- JSON array of [name, value]
    thread_key    TEXT,
    version       TEXT,
    content_hash  TEXT NOT NULL,
    tokens        INTEGER NOT NULL, -- sum of chunk tokens
    header_tokens INTEGER NOT NULL, -- tokens of the rendered header and block end
    quote_start   INTEGER,          -- byte offset of quoted text in the body (a chunk boundary)
    fresh_tokens  INTEGER,          -- tokens of the body before quote_start
    sketch        BLOB,             -- MinHash of the text's word shingles (near-duplicates)
    deleted       INTEGER NOT NULL DEFAULT 0,
    updated_ms    INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX IF NOT EXISTS items_by_source ON items (source, deleted);
CREATE INDEX IF NOT EXISTS items_by_thread ON items (thread_key) WHERE thread_key IS NOT NULL;

-- Bodies live apart from item metadata so that scans of sizes and attributes (packing,
-- filters) read small, dense rows instead of walking overflow pages.
CREATE TABLE IF NOT EXISTS item_bodies (
    item_rowid INTEGER PRIMARY KEY,
    body       TEXT NOT NULL
);

-- Chunks: byte ranges of item_bodies.body with exact token counts, computed at ingest.
CREATE TABLE IF NOT EXISTS chunks (
    item_rowid INTEGER NOT NULL,
    ord        INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    end        INTEGER NOT NULL,
    tokens     INTEGER NOT NULL,
    PRIMARY KEY (item_rowid, ord)
) WITHOUT ROWID;

-- People and organisations, shared by every source.
CREATE TABLE IF NOT EXISTS entities (
    rowid INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,          -- person | org
    key   TEXT NOT NULL,          -- normalised email, domain, or name:<lowercased name>
    name  TEXT,
    -- Rows of item_entities naming this entity, kept by triggers (schema_triggers.sql, schema 4),
    -- so that "how common is this entity" costs one row read instead of a walk over its links.
    linked_items INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS entities_by_key ON entities (key);
CREATE INDEX IF NOT EXISTS entities_by_name ON entities (lower(name));

CREATE TABLE IF NOT EXISTS item_entities (
    item_rowid   INTEGER NOT NULL,
    entity_rowid INTEGER NOT NULL,
    role         TEXT NOT NULL,
    PRIMARY KEY (item_rowid, entity_rowid, role)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_entities_by_entity ON item_entities (entity_rowid);

-- A person's organisation, from their address domain.
CREATE TABLE IF NOT EXISTS person_orgs (
    person_rowid INTEGER NOT NULL,
    org_rowid    INTEGER NOT NULL,
    PRIMARY KEY (person_rowid, org_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS person_orgs_by_org ON person_orgs (org_rowid);

-- Typed edges between items of one source, by external id (targets may arrive later).
CREATE TABLE IF NOT EXISTS links (
    item_rowid         INTEGER NOT NULL,
    relation           TEXT NOT NULL,
    target_external_id TEXT NOT NULL,
    PRIMARY KEY (item_rowid, relation, target_external_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_by_target ON links (target_external_id);

-- Start instants of a recurring item's occurrences (the series is one item; date filters match
-- any occurrence). Added without a schema version bump: an older store gains the empty table,
-- and its recurring items fill it when their changed content hash makes the next sync rewrite them.
CREATE TABLE IF NOT EXISTS item_occurrences (
    item_rowid INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (item_rowid, at_ms)
) WITHOUT ROWID;

-- Append-only change log; the search projection replays it after its last commit.
CREATE TABLE IF NOT EXISTS changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    item_rowid INTEGER NOT NULL,
    op         TEXT NOT NULL,     -- upsert | delete
    at_ms      INTEGER NOT NULL
);
