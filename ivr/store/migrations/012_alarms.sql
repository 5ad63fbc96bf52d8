-- Silent alarms: shops' card terminals (POS SOS), alarm panels and old diallers.
--
-- A site is the business (address, zone, position, contacts); a device is what signals
-- for it (a DC-09 communicator's account, a webhook terminal's id, a Contact ID
-- dialler's account) with its keys, clock tolerance and expected poll interval. Every
-- signal received is kept once (dedup_key: a panel repeats a line it got no ACK for);
-- an alarm opens a report (channel 'pos') in the same transaction, and the ACK goes
-- only after that commit.

CREATE TABLE alarm_sites (
    id              INTEGER PRIMARY KEY,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    name            TEXT    NOT NULL,
    address         TEXT    NOT NULL DEFAULT '',
    zone            TEXT,
    lat             REAL,
    lon             REAL,
    contacts        TEXT    NOT NULL DEFAULT '[]',  -- [{"name", "phone"}]
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX alarm_sites_municipality ON alarm_sites (municipality_id, name);

CREATE TABLE alarm_devices (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER NOT NULL REFERENCES alarm_sites (id) ON DELETE CASCADE,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('dc09', 'webhook', 'contact_id')),
    account         TEXT    NOT NULL,  -- DC-09 #acct (hex), a terminal's id, a CID account
    keys            TEXT    NOT NULL DEFAULT '[]',  -- AES key (DC-09) or webhook secrets
    time_zone       TEXT    NOT NULL DEFAULT 'UTC',  -- what the panel's clock says
    tolerance_s     INTEGER NOT NULL DEFAULT 60,  -- its timestamps may be this far off
    poll_s          INTEGER,  -- expected poll interval; NULL: not supervised
    active          INTEGER NOT NULL DEFAULT 1,
    last_seen_at    TEXT,
    last_test_at    TEXT,
    link            TEXT    NOT NULL DEFAULT 'unknown' CHECK (link IN ('unknown', 'ok', 'lost')),
    link_lost_at    TEXT,
    created_at      TEXT    NOT NULL,
    UNIQUE (kind, account)
);
CREATE INDEX alarm_devices_site ON alarm_devices (site_id);
CREATE INDEX alarm_devices_supervised ON alarm_devices (last_seen_at) WHERE poll_s IS NOT NULL;

CREATE TABLE alarm_signals (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES alarm_devices (id),
    dedup_key   TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,  -- panic | holdup | duress | silent | test | trouble | ...
    code        TEXT    NOT NULL,  -- as received: SIA 'PA', Contact ID 'E122'
    zone        TEXT,
    sent_at     TEXT,              -- the panel's timestamp, in UTC
    received_at TEXT    NOT NULL,
    report_id   INTEGER,
    raw         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX alarm_signals_device ON alarm_signals (device_id, received_at);

ALTER TABLE reports ADD COLUMN alarm_device_id INTEGER;
CREATE INDEX reports_alarm_device ON reports (alarm_device_id) WHERE alarm_device_id IS NOT NULL;
