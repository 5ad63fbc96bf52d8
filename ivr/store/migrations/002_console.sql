-- The operator console: accounts, sessions, casework and callbacks.

-- Casework on a report. The state machine lives in ivr.domain.reports.
ALTER TABLE reports ADD COLUMN duplicate_of     INTEGER REFERENCES reports (id);
ALTER TABLE reports ADD COLUMN unit             TEXT;     -- unit dispatched, as confirmed by the operator
ALTER TABLE reports ADD COLUMN summary          TEXT;     -- what a manual entry says happened
ALTER TABLE reports ADD COLUMN entered_by       TEXT;     -- user who filed a manual entry
ALTER TABLE reports ADD COLUMN callback_due_at  TEXT;     -- the citizen must be called back by then
ALTER TABLE reports ADD COLUMN callback_done_at TEXT;     -- first answered callback
ALTER TABLE reports ADD COLUMN reserved_by      TEXT;     -- operator who took the callback
ALTER TABLE reports ADD COLUMN reserved_at      TEXT;
ALTER TABLE reports ADD COLUMN first_action_at  TEXT;     -- first thing a person did about it
ALTER TABLE reports ADD COLUMN flagged          INTEGER NOT NULL DEFAULT 0;  -- e.g. a keyword alert

-- The live queue: open reports by priority then age, from a small partial index.
CREATE INDEX reports_open_queue ON reports (priority, created_at)
    WHERE state IN ('received', 'acknowledged', 'dispatched', 'on_scene');
CREATE INDEX reports_type_created ON reports (type, created_at);
CREATE INDEX reports_zone_created ON reports (zone, created_at);
CREATE INDEX reports_state_created ON reports (state, created_at);
CREATE INDEX reports_due ON reports (callback_due_at) WHERE callback_done_at IS NULL;

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role           TEXT    NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
    password_hash  TEXT    NOT NULL,                  -- argon2id, encoded with its parameters
    extension      TEXT,                              -- the operator's own phone, rung first on callbacks
    language       TEXT    NOT NULL DEFAULT 'es',
    active         INTEGER NOT NULL DEFAULT 1,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

-- Only a hash of the cookie value is stored: a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One row per callback attempt. request_key makes one click one call: a second
-- submit of the same click finds this row instead of placing a second call.
CREATE TABLE callbacks (
    id           INTEGER PRIMARY KEY,
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    request_key  TEXT    NOT NULL UNIQUE,
    action_id    TEXT    NOT NULL UNIQUE,
    user_name    TEXT    NOT NULL,
    endpoint     TEXT    NOT NULL,                    -- the operator's phone
    number       TEXT    NOT NULL,                    -- the citizen's number, digits only
    state        TEXT    NOT NULL DEFAULT 'placing',  -- placing | ringing | answered | busy | no_answer | failed | unknown
    reason       TEXT,
    created_at   TEXT    NOT NULL,
    finished_at  TEXT
);
CREATE INDEX callbacks_report ON callbacks (report_id, id);

-- Words in notes (and, later, transcripts) for search; the text lives here only as an index.
CREATE VIRTUAL TABLE report_text USING fts5 (
    body, report_id UNINDEXED, source UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
