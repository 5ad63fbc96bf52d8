-- What the store's SQL (SQLite's dialect, see ivr/store/dialect.py) needs from PostgreSQL
-- under names of its own. Run before the schema, on every start (all CREATE OR REPLACE).
-- Times are ISO 8601 text in UTC, as in SQLite; text without a zone is read as UTC.

CREATE OR REPLACE FUNCTION sqlite_moment(value text, modifiers text[]) RETURNS timestamp
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v timestamp;
    m text;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        IF lower(value) = 'now' THEN
            v := (clock_timestamp() AT TIME ZONE 'UTC');
        ELSIF value ~ '^0000-' THEN  -- year 0 (PostgreSQL's 1 BC): 400-year cycles agree
            v := (('2000' || substr(value, 5))::timestamptz AT TIME ZONE 'UTC')
                 - interval '2000 years';
        ELSIF value ~ '^\s*-?\d+(\.\d+)?\s*$' THEN  -- a Julian day number
            v := to_timestamp((value::double precision - 2440587.5) * 86400) AT TIME ZONE 'UTC';
        ELSE
            v := (value::timestamptz AT TIME ZONE 'UTC');
        END IF;
    EXCEPTION WHEN others THEN
        RETURN NULL;  -- SQLite: a time it cannot read is NULL, not an error
    END;
    FOREACH m IN ARRAY coalesce(modifiers, '{}') LOOP
        m := lower(trim(m));
        IF m IS NULL THEN
            RETURN NULL;
        ELSIF m ~ '^[-+]?\d+(\.\d+)?\s+(year|month|day|hour|minute|second)s?$' THEN
            v := v + m::interval;
        ELSIF m = 'start of day' THEN
            v := date_trunc('day', v);
        ELSIF m = 'start of month' THEN
            v := date_trunc('month', v);
        ELSIF m = 'start of year' THEN
            v := date_trunc('year', v);
        ELSIF m IN ('utc', 'localtime', 'subsec', 'subsecond') THEN
            NULL;
        ELSE
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION sqlite_julianday(value text, VARIADIC modifiers text[] DEFAULT '{}')
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT extract(epoch FROM sqlite_moment(value, modifiers)) / 86400.0 + 2440587.5
$$;

CREATE OR REPLACE FUNCTION sqlite_datetime(value text, VARIADIC modifiers text[] DEFAULT '{}')
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(sqlite_moment(value, modifiers), 'YYYY-MM-DD HH24:MI:SS')
$$;

CREATE OR REPLACE FUNCTION sqlite_date(value text, VARIADIC modifiers text[] DEFAULT '{}')
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(sqlite_moment(value, modifiers), 'YYYY-MM-DD')
$$;

CREATE OR REPLACE FUNCTION sqlite_strftime(format text, value text,
                                           VARIADIC modifiers text[] DEFAULT '{}')
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v timestamp := sqlite_moment(value, modifiers);
    out text := '';
    i int := 1;
    c text;
BEGIN
    IF v IS NULL OR format IS NULL THEN
        RETURN NULL;
    ELSIF format = '%w' THEN  -- the weekday of every rollup row: no loop for it
        RETURN extract(dow FROM v)::int::text;
    END IF;
    WHILE i <= length(format) LOOP
        c := substr(format, i, 1);
        IF c = '%' AND i < length(format) THEN
            i := i + 1;
            c := substr(format, i, 1);
            out := out || CASE c
                WHEN 'Y' THEN to_char(v, 'YYYY')
                WHEN 'm' THEN to_char(v, 'MM')
                WHEN 'd' THEN to_char(v, 'DD')
                WHEN 'H' THEN to_char(v, 'HH24')
                WHEN 'M' THEN to_char(v, 'MI')
                WHEN 'S' THEN to_char(v, 'SS')
                WHEN 'f' THEN to_char(v, 'SS.MS')
                WHEN 'j' THEN to_char(v, 'DDD')
                WHEN 'w' THEN extract(dow FROM v)::int::text
                WHEN 'u' THEN extract(isodow FROM v)::int::text
                WHEN 's' THEN floor(extract(epoch FROM v))::bigint::text
                WHEN 'W' THEN lpad(((extract(doy FROM v)::int + 6
                                     - (extract(isodow FROM v)::int - 1)) / 7)::text, 2, '0')
                WHEN '%' THEN '%'
                ELSE '%' || c END;
        ELSE
            out := out || c;
        END IF;
        i := i + 1;
    END LOOP;
    RETURN out;
END $$;

-- CAST(x AS INTEGER) as SQLite does it: toward zero, and text's leading digits.
CREATE OR REPLACE FUNCTION sqlite_int(value double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT trunc(value)::bigint $$;
CREATE OR REPLACE FUNCTION sqlite_int(value numeric) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT trunc(value)::bigint $$;
CREATE OR REPLACE FUNCTION sqlite_int(value bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT value $$;
CREATE OR REPLACE FUNCTION sqlite_int(value boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT value::int::bigint $$;
CREATE OR REPLACE FUNCTION sqlite_int(value text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN value IS NULL THEN NULL
                ELSE coalesce(substring(value FROM '^\s*([-+]?\d+)')::bigint, 0) END
$$;

CREATE OR REPLACE FUNCTION sqlite_instr(haystack text, needle text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT strpos(haystack, needle)::bigint $$;

-- Numbers only: the store reads ids and takes out of event data.
CREATE OR REPLACE FUNCTION sqlite_json_extract(document text, path text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN jsonb_typeof(document::jsonb #> string_to_array(substr(path, 3), '.'))
                     = 'number'
                THEN (document::jsonb #>> string_to_array(substr(path, 3), '.'))::numeric END
$$;

CREATE OR REPLACE FUNCTION round(value double precision, digits integer)
RETURNS double precision LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT round(value::numeric, digits)::double precision
$$;

-- total(): SQLite's sum that is 0.0 over no rows.
CREATE OR REPLACE FUNCTION sqlite_total_step(acc double precision, value double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT acc + coalesce(value, 0) $$;
CREATE OR REPLACE AGGREGATE sqlite_total(double precision) (
    SFUNC = sqlite_total_step, STYPE = double precision, INITCOND = '0'
);
-- sum(a IS b): SQLite counts true as 1.
CREATE OR REPLACE FUNCTION sqlite_bool_step(acc bigint, value boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN value IS NULL THEN acc
                                         ELSE coalesce(acc, 0) + value::int END $$;
CREATE OR REPLACE AGGREGATE sum(boolean) (SFUNC = sqlite_bool_step, STYPE = bigint);

-- Words in notes and transcripts, folded as FTS5's remove_diacritics folds them.
CREATE OR REPLACE FUNCTION sqlite_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(lower(value), 'áàâäãéèêëíìîïóòôöõúùûüñç', 'aaaaaeeeeiiiiooooouuuunc')
$$;
-- An FTS5 query of terms, quoted or bare, a trailing * making a prefix → the same tsquery.
CREATE OR REPLACE FUNCTION sqlite_fts5_query(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_tsquery('simple', coalesce(string_agg(
        quote_literal(sqlite_fold(coalesce(m[1], m[2])))
        || CASE WHEN m[3] = '*' THEN ':*' ELSE '' END, ' & '), ''))
    FROM regexp_matches(query, '(?:"([^"]+)"|([^\s"*]+))(\*?)', 'g') AS m
$$;
