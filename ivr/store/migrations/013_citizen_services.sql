-- Citizen services lines: complaints, suggestions and queries with a legal deadline
-- (flow participation), and tax accounts heard by keypad (flow tax).
--
-- A case is a report of a participation line. Its clip, callbacks, notes, messages
-- and history are the report's, so an officer listens and calls back as an operator
-- does; what is the case's own (kind, area, the deadline in business days, the answer)
-- is in `cases`. reports.service tells the two apart: the incident queue, search and
-- the command center's analytics read incident reports only (service IS NULL).

ALTER TABLE reports ADD COLUMN service TEXT;  -- NULL: an incident report; 'participation'

CREATE TABLE cases (
    report_id       INTEGER PRIMARY KEY REFERENCES reports (id),
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    kind            TEXT    NOT NULL,  -- the line's type: complaint | suggestion | query | ...
    area            TEXT    NOT NULL,  -- the line's area id
    intake          TEXT    NOT NULL,  -- ivr | counter | email | open311
    subject         TEXT    NOT NULL DEFAULT '',  -- what a written case says
    contact_name    TEXT,
    contact_email   TEXT,
    received_on     TEXT    NOT NULL,  -- the municipality's local date (YYYY-MM-DD)
    business_days   INTEGER NOT NULL,
    due_on          TEXT    NOT NULL,  -- the last business day to answer (local date)
    state           TEXT    NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'answered', 'closed')),
    answer          TEXT,              -- what the citizen was told
    answer_audio    TEXT,              -- the answer spoken, relative to the clips folder
    answered_at     TEXT,
    answered_on     TEXT,              -- local date: answered on time when <= due_on
    answered_by     TEXT,
    closed_at       TEXT,
    closed_by       TEXT,
    warned_at       TEXT,              -- "near the deadline" raised
    overdue_at      TEXT,              -- "overdue" raised (and escalated)
    api_key_id      INTEGER REFERENCES open311_keys (id),  -- the website or app that filed it
    updated_at      TEXT    NOT NULL
);
CREATE INDEX cases_queue ON cases (municipality_id, state, due_on);
CREATE INDEX cases_area ON cases (municipality_id, area, state, due_on);
CREATE INDEX cases_received ON cases (municipality_id, received_on);

-- The areas an officer answers for, per municipality (the role is in user_roles).
CREATE TABLE officer_areas (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    area            TEXT    NOT NULL,
    granted_at      TEXT    NOT NULL,
    PRIMARY KEY (user_id, municipality_id, area)
) WITHOUT ROWID;

-- A municipality's own non-working days (its anniversary, a day it closes), counted
-- out of deadlines besides the country's public holidays.
CREATE TABLE non_working_days (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    day             TEXT    NOT NULL,  -- YYYY-MM-DD
    name            TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (municipality_id, day)
) WITHOUT ROWID;

-- Keys of the websites and apps that file cases through Open311 GeoReport v2. Only a
-- hash is kept; the key is shown once, when it is made.
CREATE TABLE open311_keys (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    name            TEXT    NOT NULL,
    key_hash        TEXT    NOT NULL UNIQUE,  -- sha256 hex of the key
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    revoked_at      TEXT,
    last_used_at    TEXT
);

-- Tax accounts as the municipality's tax system exports them (the file adapter). The
-- bill's code is kept only as a keyed hash; names and addresses are not kept at all.
-- Each import loads its own generation (import_id) beside the one callers are heard
-- from, in short transactions that never hold the writer for long; one small
-- transaction then makes it the current one, and the old generation is deleted
-- after. A crash while loading leaves the current generation as it was.
CREATE TABLE tax_imports (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    at              TEXT    NOT NULL,
    source          TEXT    NOT NULL,  -- the file's name
    sha256          TEXT    NOT NULL DEFAULT '',
    accounts        INTEGER NOT NULL DEFAULT 0,
    debts           INTEGER NOT NULL DEFAULT 0,
    refused         INTEGER NOT NULL DEFAULT 0,  -- lines refused, each logged with why
    actor           TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'loading'
                    CHECK (state IN ('loading', 'current', 'replaced', 'failed')),
    finished_at     TEXT
);
CREATE UNIQUE INDEX tax_imports_current ON tax_imports (municipality_id)
    WHERE state = 'current';

CREATE TABLE tax_accounts (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    tax_id          TEXT    NOT NULL,  -- DNI (8 digits) or RUC (11)
    import_id       INTEGER NOT NULL REFERENCES tax_imports (id),
    secret_hash     TEXT    NOT NULL,  -- HMAC-SHA256 under the deployment's key
    imported_at     TEXT    NOT NULL,
    PRIMARY KEY (municipality_id, tax_id, import_id)
) WITHOUT ROWID;
CREATE INDEX tax_accounts_import ON tax_accounts (import_id);

CREATE TABLE tax_debts (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL,
    tax_id          TEXT    NOT NULL,
    import_id       INTEGER NOT NULL,
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    due_on          TEXT    NOT NULL,  -- YYYY-MM-DD
    FOREIGN KEY (municipality_id, tax_id, import_id)
        REFERENCES tax_accounts (municipality_id, tax_id, import_id) ON DELETE CASCADE
);
CREATE INDEX tax_debts_account ON tax_debts (municipality_id, tax_id, import_id);
CREATE INDEX tax_debts_import ON tax_debts (import_id);

-- Every lookup, for the audit and for the limits. Never the bill's code.
CREATE TABLE tax_lookups (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    at              TEXT    NOT NULL,
    caller          TEXT,              -- the calling number when usable; NULL withheld
    call_id         TEXT,
    line            TEXT,              -- "<slug> v<n>"
    tax_id          TEXT,              -- the DNI or RUC typed, when it was one
    result          TEXT    NOT NULL   -- found | nothing_owed | no_match | invalid_id |
                                       -- blocked | unavailable
);
CREATE INDEX tax_lookups_caller ON tax_lookups (municipality_id, caller, at);
CREATE INDEX tax_lookups_tax_id ON tax_lookups (municipality_id, tax_id, at);
CREATE INDEX tax_lookups_at ON tax_lookups (municipality_id, at);

-- A number or an ID that may not look up for a while (an enumeration stopped).
CREATE TABLE tax_blocks (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('caller', 'tax_id')),
    value           TEXT    NOT NULL,
    until           TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (municipality_id, kind, value)
) WITHOUT ROWID;

-- The officer role: user_roles is rebuilt (SQLite cannot change a CHECK in place).
CREATE TABLE user_roles_013 (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    role            TEXT    NOT NULL
                    CHECK (role IN ('operator', 'supervisor', 'admin', 'analyst', 'officer')),
    granted_at      TEXT    NOT NULL,
    PRIMARY KEY (user_id, municipality_id)
) WITHOUT ROWID;
INSERT INTO user_roles_013 (user_id, municipality_id, role, granted_at)
    SELECT user_id, municipality_id, role, granted_at FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_013 RENAME TO user_roles;
CREATE INDEX user_roles_municipality ON user_roles (municipality_id, role);

-- The analytics count incident reports only: cases have their own monthly report.
DROP VIEW IF EXISTS report_facts;
CREATE VIEW report_facts AS
SELECT id, municipality_id, type, zone, channel, state, created_at,
       substr(lt, 1, 10) AS day,
       substr(lt, 1, 7) AS month,
       CAST(substr(lt, 12, 2) AS INTEGER) AS hour,
       CAST(strftime('%w', lt) AS INTEGER) AS weekday,
       fa_s,
       CASE WHEN fa_s IS NULL THEN NULL WHEN fa_s < 60 THEN 0 WHEN fa_s < 300 THEN 1
            WHEN fa_s < 900 THEN 2 WHEN fa_s < 3600 THEN 3 WHEN fa_s < 14400 THEN 4
            WHEN fa_s < 86400 THEN 5 ELSE 6 END AS fa_bucket,
       CASE WHEN callback_due_at IS NULL THEN NULL
            WHEN callback_done_at IS NULL THEN 'pending'
            WHEN julianday(callback_done_at) <= julianday(callback_due_at) THEN 'on_time'
            ELSE 'late' END AS cb,
       CASE WHEN lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180
            THEN CAST((lat + 90.0) * 500 AS INTEGER) * 1000000
                 + CAST((lon + 180.0) * 500 AS INTEGER) END AS cell
FROM (
    SELECT r.id, r.municipality_id, r.type, coalesce(r.zone, '') AS zone, r.channel, r.state,
           r.created_at, r.callback_due_at, r.callback_done_at, r.lat, r.lon,
           coalesce(datetime(r.created_at,
                             (SELECT m.utc_offset_minutes || ' minutes' FROM municipalities m
                              WHERE m.id = r.municipality_id)),
                    '0000-01-01 00:00:00') AS lt,
           max(0, CAST(round((julianday(r.first_action_at) - julianday(r.created_at)) * 86400)
                       AS INTEGER)) AS fa_s
    FROM reports r
    WHERE r.service IS NULL
);
