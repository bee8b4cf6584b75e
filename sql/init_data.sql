-- event-system initial data: load after sql/schema.sql.  Safe to load
-- twice (nothing is duplicated).

-- An example subscription kept in the database, disabled: enable it to
-- have the bundled `log` plugin record the test event of
-- POST /api/events/test in addition to what the config file subscribes.
INSERT IGNORE INTO event_subscriptions (plugin, pattern, enabled, description) VALUES
  ('log', 'system.test', 0, 'example: log the test event of POST /api/events/test');

INSERT INTO audit_log (at, actor, action, detail)
SELECT UTC_TIMESTAMP(6), 'sql/init_data.sql', 'database.initialised', 'initial data loaded'
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'database.initialised');
