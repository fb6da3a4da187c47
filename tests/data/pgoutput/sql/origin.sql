-- protos: 1
-- A transaction written under a replication origin starts with an Origin message.
CREATE TABLE replicated (id int PRIMARY KEY, src text);
SELECT pg_replication_origin_create('upstream_a');
SELECT pg_replication_origin_session_setup('upstream_a');
BEGIN;
SELECT pg_replication_origin_xact_setup('1/ABCDEF', now());
INSERT INTO replicated VALUES (1, 'from upstream');
COMMIT;
SELECT pg_replication_origin_session_reset();
INSERT INTO replicated VALUES (2, 'local');
