-- protos: 1
-- pg_logical_emit_message: transactional (inside Begin/Commit) and not (alone).
SELECT pg_logical_emit_message(true, 'uringmig', 'switchover-sentinel');
SELECT pg_logical_emit_message(false, 'uringmig/nontx', '\x00ff10'::bytea);
BEGIN;
SELECT pg_logical_emit_message(true, 'uringmig', 'in-txn ✓');
SELECT pg_logical_emit_message(true, '', '');
COMMIT;
