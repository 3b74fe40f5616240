-- Every node caches webhooks (with their secrets opened) for routing and signing. A change
-- made through one node is announced to all on the channel `hookd_webhooks`, as
-- '<workspace id> <webhook id>', when its transaction commits. Counter updates (attempts,
-- failures, last delivery) do not announce anything: no cache holds them for routing.
CREATE FUNCTION hookd_webhook_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('hookd_webhooks', OLD.workspace_id || ' ' || OLD.id);
    ELSE
        PERFORM pg_notify('hookd_webhooks', NEW.workspace_id || ' ' || NEW.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER webhooks_changed
    AFTER INSERT OR DELETE OR UPDATE OF url, events, enabled, disabled_reason, metadata, rate_limit, secret,
        previous_secret, previous_secret_expires_at
    ON webhooks FOR EACH ROW EXECUTE FUNCTION hookd_webhook_changed();
