-- Text messages and e-mail: alerts to staff, texts to and from citizens.
--
-- Every message is a row of the outbox before anything is sent: the rows are written in
-- the same transaction as what causes them (an event read by the notifier, a citizen's
-- text), so nothing is lost between the cause and the send; senders on any controller
-- claim due rows, and the row keeps the delivery state the console shows.

-- Staff: where alerts reach them, and when they would rather not be woken.
ALTER TABLE users ADD COLUMN phone TEXT;        -- digits, for SMS alerts
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN quiet_from TEXT;   -- 'HH:MM', the municipality's clock; NULL: never
ALTER TABLE users ADD COLUMN quiet_until TEXT;

-- Who is on duty: a supervisor (or operator, admin) from one time to another. The
-- escalation order among those on duty is their rank, then who began first.
CREATE TABLE duty_shifts (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
    starts_at       TEXT    NOT NULL,  -- UTC
    ends_at         TEXT    NOT NULL,
    rank            INTEGER NOT NULL DEFAULT 1 CHECK (rank BETWEEN 1 AND 9),
    created_by      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX duty_shifts_current ON duty_shifts (municipality_id, ends_at);

-- What notifies whom. audience: 'on_duty:<role>' | 'role:<role>' | 'user:<id>'.
-- after_s: for 'unacknowledged', how long an emergency may wait before each step up.
CREATE TABLE alert_rules (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    cause           TEXT    NOT NULL,  -- what happened: see ivr.domain.alerting.CAUSES
    audience        TEXT    NOT NULL,
    sms             INTEGER NOT NULL DEFAULT 1,
    email           INTEGER NOT NULL DEFAULT 1,
    after_s         INTEGER NOT NULL DEFAULT 0 CHECK (after_s BETWEEN 0 AND 86400),
    active          INTEGER NOT NULL DEFAULT 1,
    updated_by      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CHECK (sms = 1 OR email = 1)
);
CREATE INDEX alert_rules_trigger ON alert_rules (municipality_id, cause);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER REFERENCES municipalities (id),
    channel         TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    recipient       TEXT    NOT NULL,
    user_id         INTEGER REFERENCES users (id) ON DELETE SET NULL,  -- NULL: a citizen
    report_id       INTEGER,
    purpose         TEXT    NOT NULL,  -- alert.<cause> | citizen.<what>
    urgent          INTEGER NOT NULL DEFAULT 0,  -- sent first, through quiet hours
    subject         TEXT    NOT NULL DEFAULT '',
    body            TEXT    NOT NULL,
    segments        INTEGER NOT NULL DEFAULT 0,  -- SMS parts the body takes
    dedup_key       TEXT    UNIQUE,  -- one message per cause and recipient
    group_key       TEXT,            -- pending rows with one key go as one message
    items           INTEGER NOT NULL DEFAULT 1,  -- the alerts one sent message carries
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN
                    ('pending', 'sending', 'sent', 'delivered', 'undelivered', 'refused',
                     'grouped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_before      TEXT    NOT NULL,  -- when it may go next: backoff, bursts, quiet hours
    grouped_into    INTEGER REFERENCES outbox (id),
    gateway_ref     TEXT,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_at      TEXT,
    created_at      TEXT    NOT NULL,
    sent_at         TEXT,
    settled_at      TEXT             -- delivered, undelivered, refused or grouped
);
CREATE INDEX outbox_due ON outbox (urgent DESC, not_before) WHERE state = 'pending';
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE state = 'sending';
CREATE INDEX outbox_group ON outbox (group_key) WHERE state = 'pending';
CREATE INDEX outbox_report ON outbox (report_id) WHERE report_id IS NOT NULL;
CREATE INDEX outbox_created ON outbox (municipality_id, created_at);

-- How far the notifier has read the events, and the escalations it still owes.
CREATE TABLE notifier_cursor (
    name       TEXT    PRIMARY KEY,
    last_event INTEGER NOT NULL
);
INSERT INTO notifier_cursor (name, last_event) SELECT 'alerts', coalesce(max(id), 0) FROM events;

CREATE TABLE escalations (
    report_id INTEGER NOT NULL,
    step      INTEGER NOT NULL,  -- 1: the first after the on-duty supervisor
    due_at    TEXT    NOT NULL,
    rule_id   INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    done_at   TEXT,
    PRIMARY KEY (report_id, step)
);
CREATE INDEX escalations_due ON escalations (due_at) WHERE done_at IS NULL;

-- Texts to and from citizens, per municipality.
CREATE TABLE sms_settings (
    municipality_id INTEGER PRIMARY KEY REFERENCES municipalities (id),
    number          TEXT    UNIQUE,  -- the municipality's SMS number, digits
    receipt         INTEGER NOT NULL DEFAULT 1,  -- a text with the number after a call
    on_dispatched   INTEGER NOT NULL DEFAULT 1,
    on_resolved     INTEGER NOT NULL DEFAULT 1,
    quiet_types     TEXT    NOT NULL DEFAULT '[]',  -- incident types with no follow-up texts
    updated_by      TEXT    NOT NULL DEFAULT 'system',
    updated_at      TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE sms_optouts (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    number          TEXT    NOT NULL,
    at              TEXT    NOT NULL,
    PRIMARY KEY (municipality_id, number)
);

CREATE TABLE sms_incoming (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER REFERENCES municipalities (id),
    sender          TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    gateway_ref     TEXT    UNIQUE,
    outcome         TEXT    NOT NULL,  -- report | status | refused | stop | start | unknown
    report_id       INTEGER,
    received_at     TEXT    NOT NULL
);
CREATE INDEX sms_incoming_sender ON sms_incoming (sender, received_at);

-- A callback past its deadline is announced once: reports already overdue when this
-- runs were seen by the console long ago and are not announced now.
ALTER TABLE reports ADD COLUMN overdue_alerted_at TEXT;
UPDATE reports SET overdue_alerted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE callback_done_at IS NULL AND callback_due_at IS NOT NULL;
CREATE INDEX reports_overdue ON reports (callback_due_at)
    WHERE callback_done_at IS NULL AND overdue_alerted_at IS NULL;
