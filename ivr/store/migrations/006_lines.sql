-- Lines that admins edit: a draft per line, every published version kept whole,
-- and the prompt audio library. Documents are LineConfig.to_dict() as JSON.
CREATE TABLE lines (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    slug         TEXT    NOT NULL UNIQUE,
    flow         TEXT    NOT NULL,                 -- report | status
    is_default   INTEGER NOT NULL DEFAULT 0,       -- reached by a number no line claims
    live_version INTEGER,                          -- NULL until first published
    draft        TEXT,                             -- NULL: no edits since the last publish
    draft_at     TEXT,
    draft_by     TEXT,
    created_at   TEXT    NOT NULL
);
CREATE UNIQUE INDEX lines_one_default ON lines (flow) WHERE is_default = 1;

CREATE TABLE line_versions (
    line_id      INTEGER NOT NULL REFERENCES lines (id),
    version      INTEGER NOT NULL,
    document     TEXT    NOT NULL,
    document_sha TEXT    NOT NULL,                 -- names the folder its prompts play from
    published_at TEXT    NOT NULL,
    published_by TEXT    NOT NULL,
    note         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (line_id, version)
) WITHOUT ROWID;
CREATE TRIGGER line_versions_no_update BEFORE UPDATE ON line_versions
BEGIN SELECT RAISE(ABORT, 'published versions are kept as they were'); END;
CREATE TRIGGER line_versions_no_delete BEFORE DELETE ON line_versions
BEGIN SELECT RAISE(ABORT, 'published versions are kept as they were'); END;

-- The numbers of each line's live version: one line per number.
CREATE TABLE line_numbers (
    number   TEXT    PRIMARY KEY,
    line_id  INTEGER NOT NULL REFERENCES lines (id)
) WITHOUT ROWID;

CREATE TABLE prompt_audio (
    sha256   TEXT PRIMARY KEY,
    seconds  REAL NOT NULL,
    source   TEXT NOT NULL,                        -- shipped | upload | spoken | phone | import
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
) WITHOUT ROWID;
