-- Requests counted per API key and one-minute window, for limits shared by several
-- processes.
CREATE TABLE rate_limit_windows (
    api_key_id    TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    used          INTEGER NOT NULL,
    granted       INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
) WITHOUT ROWID;
