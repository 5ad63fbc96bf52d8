-- Several municipalities on one deployment. Everything that was here before this
-- migration becomes municipality 1, unchanged: its report numbers, users, lines,
-- zones and directory stay as they were.
--
-- Report ids: municipality n owns the ids (n-1)*10^10 + 1 .. n*10^10 - 1, and the
-- number its callers hear is the id less the start of that range (ivr.domain.
-- municipalities). Municipality 1's ids are its numbers, as before. A controller
-- can hand out a municipality's next number without the database (report number
-- blocks, the journal), and no number can ever name another municipality's report.
CREATE TABLE municipalities (
    id                 INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 900000),
    code               TEXT    NOT NULL UNIQUE,        -- in URLs: /public/<code>
    name               TEXT    NOT NULL,
    timezone           TEXT    NOT NULL,
    utc_offset_minutes INTEGER NOT NULL,               -- analytics group by this local clock
    jurisdiction_id    TEXT    NOT NULL UNIQUE,        -- Open311 GeoReport v2
    public_page        INTEGER NOT NULL DEFAULT 1,
    retention_days     INTEGER,                        -- clips kept; NULL: the deployment's rule
    created_at         TEXT    NOT NULL
);
INSERT INTO municipalities (id, code, name, timezone, utc_offset_minutes, jurisdiction_id,
                            created_at)
    SELECT 1, 'municipalidad', 'Municipalidad', timezone, utc_offset_minutes, 'municipalidad',
           strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    FROM analytics_clock WHERE id = 1;

-- Neighbours may hand reports over to each other (both ways once granted).
CREATE TABLE municipality_neighbours (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    neighbour_id    INTEGER NOT NULL REFERENCES municipalities (id),
    PRIMARY KEY (municipality_id, neighbour_id),
    CHECK (municipality_id != neighbour_id)
) WITHOUT ROWID;

ALTER TABLE reports ADD COLUMN municipality_id INTEGER NOT NULL DEFAULT 1;
-- A hand-over between neighbours: the report stays where it was made (state handed_over,
-- handed_over_to its copy); the neighbour's copy names where it came from.
ALTER TABLE reports ADD COLUMN handed_over_to INTEGER;
ALTER TABLE reports ADD COLUMN handed_over_from INTEGER;
-- The range rule, so no writer (the flow, the console, a hand-written INSERT) can break it.
CREATE TRIGGER reports_in_their_range BEFORE INSERT ON reports
WHEN NEW.municipality_id IS NOT NEW.id / 10000000000 + 1
BEGIN SELECT RAISE(ABORT, 'report id outside its municipality''s range'); END;
CREATE TRIGGER reports_stay_home BEFORE UPDATE OF id, municipality_id ON reports
WHEN NEW.municipality_id IS NOT OLD.municipality_id OR NEW.id IS NOT OLD.id
BEGIN SELECT RAISE(ABORT, 'a report stays in its municipality (hand it over instead)'); END;

DROP INDEX reports_open_queue;
CREATE INDEX reports_open_queue ON reports (municipality_id, priority, created_at)
    WHERE state IN ('received', 'acknowledged', 'dispatched', 'on_scene');
CREATE INDEX reports_municipality_caller ON reports (municipality_id, caller);
CREATE INDEX reports_municipality_created ON reports (municipality_id, created_at);

-- Events carry their municipality when they have no report (a line published, a user
-- added); a report's events belong to the report's municipality. NULL: the deployment.
ALTER TABLE events ADD COLUMN municipality_id INTEGER REFERENCES municipalities (id);

-- Lines: the numbers a municipality's citizens dial, with its menus and prompts.
ALTER TABLE lines ADD COLUMN municipality_id INTEGER NOT NULL DEFAULT 1;

-- Roles per municipality. users.role was the role in the only municipality there was.
CREATE TABLE user_roles (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    role            TEXT    NOT NULL
                    CHECK (role IN ('operator', 'supervisor', 'admin', 'analyst')),
    granted_at      TEXT    NOT NULL,
    PRIMARY KEY (user_id, municipality_id)
) WITHOUT ROWID;
CREATE INDEX user_roles_municipality ON user_roles (municipality_id, role);
INSERT INTO user_roles (user_id, municipality_id, role, granted_at)
    SELECT id, 1, role, updated_at FROM users;
ALTER TABLE users DROP COLUMN role;

-- The municipality a console session works in (a user of several switches).
ALTER TABLE sessions ADD COLUMN municipality_id INTEGER REFERENCES municipalities (id);

-- Zones and the caller directory, per municipality.
CREATE TABLE zones_by_municipality (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    geometry      TEXT NOT NULL,
    centroid_lon  REAL NOT NULL,
    centroid_lat  REAL NOT NULL,
    imported_at   TEXT NOT NULL,
    PRIMARY KEY (municipality_id, code)
);
INSERT INTO zones_by_municipality
    SELECT 1, code, name, geometry, centroid_lon, centroid_lat, imported_at FROM zones;
DROP TABLE zones;
ALTER TABLE zones_by_municipality RENAME TO zones;

CREATE TABLE directory_by_municipality (
    municipality_id INTEGER NOT NULL REFERENCES municipalities (id),
    number      TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    zone        TEXT,
    lat         REAL,
    lon         REAL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (municipality_id, number)
);
INSERT INTO directory_by_municipality
    SELECT 1, number, address, zone, lat, lon, updated_at FROM directory;
DROP TABLE directory;
ALTER TABLE directory_by_municipality RENAME TO directory;
