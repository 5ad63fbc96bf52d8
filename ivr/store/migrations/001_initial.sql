-- Reports, their clips, the append-only event log and the caller directory.

CREATE TABLE reports (
    id              INTEGER PRIMARY KEY,           -- the report number read to the caller
    type            TEXT    NOT NULL,
    priority        INTEGER NOT NULL,
    emergency       INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'received',
    complete        INTEGER NOT NULL DEFAULT 0,    -- every step of the flow was captured
    channel         TEXT    NOT NULL DEFAULT 'ivr',
    language        TEXT,
    caller          TEXT,                          -- callback number, digits only
    caller_source   TEXT,                          -- callerid | typed | none
    caller_id_raw   TEXT,                          -- what the network sent, for the record
    zone            TEXT,
    address         TEXT,
    lat             REAL,
    lon             REAL,
    location_source TEXT,                          -- directory | keypad | none
    call_id         TEXT,                          -- Asterisk uniqueid
    call_outcome    TEXT,                          -- completed | hung_up | operator | error | ...
    call_last_step  TEXT,                          -- where the caller was when the call ended
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    call_ended_at   TEXT
);
CREATE INDEX reports_state_priority ON reports (state, priority, created_at);
CREATE INDEX reports_caller ON reports (caller);
CREATE INDEX reports_created ON reports (created_at);

CREATE TABLE clips (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL REFERENCES reports (id),
    take        INTEGER NOT NULL,
    path        TEXT    NOT NULL UNIQUE,               -- relative to the voiceclips folder
    seconds     REAL    NOT NULL,
    bytes       INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    partial     INTEGER NOT NULL DEFAULT 0,            -- the caller hung up while recording
    created_at  TEXT    NOT NULL,
    UNIQUE (report_id, take)
);

-- The audit trail and the console's feed: rows are only ever added.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id   INTEGER REFERENCES reports (id),
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,                      -- ivr | user:<name> | system
    kind        TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}'          -- JSON
);
CREATE INDEX events_report ON events (report_id, id);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE directory (
    number      TEXT PRIMARY KEY,                      -- digits only
    address     TEXT NOT NULL DEFAULT '',
    zone        TEXT,
    lat         REAL,
    lon         REAL,
    updated_at  TEXT NOT NULL
);
