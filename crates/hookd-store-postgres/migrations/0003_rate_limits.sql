-- Requests counted per API key and one-minute window: every node reserves a share of a
-- key's allowance here before spending it, so the nodes together never pass the limit.
-- `granted` is what the last reservation got.
CREATE TABLE rate_limit_windows (
    api_key_id    TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    used          BIGINT NOT NULL,
    granted       BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, window_start)
);
