-- Several controllers on one store. Each report names the controller that ran its
-- call; each controller renews its row while it runs. A controller whose row has not
-- been renewed within the lease is gone (killed, its machine down): another closes the
-- calls it left open (call_outcome 'interrupted'), and never a live controller's calls.
ALTER TABLE reports ADD COLUMN controller TEXT;

CREATE TABLE controllers (
    name        TEXT PRIMARY KEY,                 -- host:agi-port unless configured
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL                     -- renewed every few seconds
) WITHOUT ROWID;
CREATE INDEX reports_open_calls ON reports (controller) WHERE call_ended_at IS NULL;
