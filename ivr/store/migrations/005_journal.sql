-- Report numbers reserved ahead, so a caller hears a number even while the
-- database cannot take a write; and the journal records already applied, so a
-- replay never stores anything twice.
CREATE TABLE report_number_blocks (
    first       INTEGER NOT NULL,
    last        INTEGER NOT NULL,
    holder      TEXT    NOT NULL,            -- which controller reserved it
    reserved_at TEXT    NOT NULL,
    CHECK (last >= first)
);
CREATE INDEX report_number_blocks_last ON report_number_blocks (last);

CREATE TABLE journal_applied (
    record_key TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
) WITHOUT ROWID;
