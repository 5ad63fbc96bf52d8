-- Voice clips after the call: a durable job queue (audio derivative, transcription),
-- transcripts, audio facts for the console's player, retention and legal hold.

ALTER TABLE reports ADD COLUMN legal_hold        INTEGER NOT NULL DEFAULT 0;  -- 1: no clip of it is ever purged
ALTER TABLE reports ADD COLUMN clips_released_at TEXT;  -- a supervisor allowed its clips to go
ALTER TABLE reports ADD COLUMN clips_released_by TEXT;
ALTER TABLE clips   ADD COLUMN purged_at         TEXT;  -- the audio was removed under a retention rule

-- One row per clip and kind of work. A worker claims a row with a lease
-- (state running, claimed_at, attempts + 1); a lease that outlives the time limit
-- means the worker or the whole controller died, and the job is queued again.
CREATE TABLE clip_jobs (
    id           INTEGER PRIMARY KEY,
    clip_id      INTEGER NOT NULL REFERENCES clips (id),
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('audio', 'transcribe')),
    state        TEXT    NOT NULL DEFAULT 'queued'
                         CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    claimed_at   TEXT,
    claimed_by   TEXT,                                  -- which controller process
    error        TEXT,                                  -- the last failure, in words
    created_at   TEXT    NOT NULL,
    finished_at  TEXT,
    UNIQUE (clip_id, kind)
);
CREATE INDEX clip_jobs_ready ON clip_jobs (state, kind, id);
CREATE INDEX clip_jobs_report ON clip_jobs (report_id);

CREATE TABLE transcripts (
    clip_id      INTEGER PRIMARY KEY REFERENCES clips (id),
    report_id    INTEGER NOT NULL REFERENCES reports (id),
    text         TEXT    NOT NULL,
    words        TEXT    NOT NULL,  -- JSON [[word, confidence, start_s, end_s], ...]
    confidence   REAL,              -- mean of the words'; NULL when nothing was heard
    model        TEXT    NOT NULL,  -- the model folder used
    language     TEXT,
    keywords     TEXT    NOT NULL DEFAULT '[]',  -- alert words heard (JSON)
    audio_s      REAL    NOT NULL,
    cpu_s        REAL    NOT NULL,
    created_at   TEXT    NOT NULL
);
CREATE INDEX transcripts_report ON transcripts (report_id);

-- Facts about a clip and its playback derivative (the original is never changed).
CREATE TABLE clip_audio (
    clip_id        INTEGER PRIMARY KEY REFERENCES clips (id),
    duration_s     REAL    NOT NULL,
    peak_dbfs      REAL,             -- NULL: digital silence
    loudness_dbfs  REAL,             -- RMS level of the whole clip
    silence_share  REAL    NOT NULL, -- 0..1 of the clip below the silence threshold
    playback_path  TEXT,             -- relative to voiceclips; NULL once purged
    playback_s     REAL    NOT NULL,
    lead_trim_s    REAL    NOT NULL DEFAULT 0,  -- the derivative starts this far into the original
    gain_db        REAL    NOT NULL DEFAULT 0,
    waveform       TEXT    NOT NULL, -- JSON list of peaks 0..100 over the derivative
    created_at     TEXT    NOT NULL
);

-- When a call ends its clips are queued in the same transaction as the 'call.ended'
-- event (written by ivr.store.reports.Reports.close_call): nothing to forget, nothing
-- lost by a crash. A clip attached after the call ended (the start-up reconciler) is
-- queued by the second trigger; anything else is found by the service's sweep.
CREATE TRIGGER clip_jobs_on_call_end AFTER INSERT ON events
WHEN NEW.kind = 'call.ended'
BEGIN
    INSERT OR IGNORE INTO clip_jobs (clip_id, report_id, kind, created_at)
        SELECT c.id, c.report_id, k.kind, NEW.at
        FROM clips c, (SELECT 'audio' AS kind UNION ALL SELECT 'transcribe') k
        WHERE c.report_id = NEW.report_id AND c.purged_at IS NULL
        ORDER BY c.id, k.kind;
    INSERT INTO events (report_id, at, actor, kind, data)
        SELECT c.report_id, NEW.at, 'system', 'clip.queued',
               json_object('clip', c.id, 'take', c.take)
        FROM clips c
        WHERE c.report_id = NEW.report_id AND c.purged_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM events e WHERE e.report_id = c.report_id
                          AND e.kind = 'clip.queued' AND json_extract(e.data, '$.clip') = c.id);
END;

CREATE TRIGGER clip_jobs_on_late_clip AFTER INSERT ON events
WHEN NEW.kind = 'report.clip_attached'
 AND (SELECT call_ended_at FROM reports WHERE id = NEW.report_id) IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO clip_jobs (clip_id, report_id, kind, created_at)
        SELECT c.id, c.report_id, k.kind, NEW.at
        FROM clips c, (SELECT 'audio' AS kind UNION ALL SELECT 'transcribe') k
        WHERE c.report_id = NEW.report_id AND c.take = json_extract(NEW.data, '$.take')
        ORDER BY k.kind;
    INSERT INTO events (report_id, at, actor, kind, data)
        SELECT c.report_id, NEW.at, 'system', 'clip.queued',
               json_object('clip', c.id, 'take', c.take)
        FROM clips c
        WHERE c.report_id = NEW.report_id AND c.take = json_extract(NEW.data, '$.take');
END;
