-- Prompts recorded by phone: the console rings an admin's extension through AMI, the
-- controller's prompt_record flow answers it; this row is what both sides share.
CREATE TABLE prompt_recordings (
    token        TEXT    PRIMARY KEY,              -- random digits: the Originate's extension
    line_id      INTEGER NOT NULL REFERENCES lines (id),
    prompt_id    TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    cue_audio    TEXT    NOT NULL,                 -- sha256 of the text spoken, played first
    requested_by TEXT    NOT NULL,                 -- user:<name>
    endpoint     TEXT    NOT NULL,                 -- what was rung, e.g. PJSIP/1003
    state        TEXT    NOT NULL,                 -- ringing | recording | kept | abandoned | failed
    takes        INTEGER NOT NULL DEFAULT 0,
    kept_audio   TEXT,                             -- sha256 of the take kept
    detail       TEXT    NOT NULL DEFAULT '',
    requested_at TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX prompt_recordings_line ON prompt_recordings (line_id, requested_at);
