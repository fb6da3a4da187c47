-- protos: 2
-- A transaction bigger than logical_decoding_work_mem (64kB) is streamed in blocks
-- (Stream Start ... Stream Stop) and ends with Stream Commit; a rolled-back savepoint that was
-- already streamed gives a Stream Abort for the subtransaction. Relation, Type, Message and
-- Truncate inside the blocks carry the xid.
CREATE TYPE stage AS ENUM ('new', 'done');
CREATE TABLE big (id int PRIMARY KEY, s stage, payload text);
CREATE TABLE side (id int);
INSERT INTO side VALUES (1);
BEGIN;
INSERT INTO big SELECT i, 'new', 'row ' || i FROM generate_series(1, 500) i;
SELECT pg_logical_emit_message(true, 'uringmig', 'inside stream');
SELECT pg_logical_emit_message(false, 'uringmig', 'not transactional');
ALTER TABLE big ADD COLUMN extra int;
UPDATE big SET s = 'done', extra = id WHERE id <= 100;
SAVEPOINT sp;
DELETE FROM big WHERE id > 100;
ROLLBACK TO SAVEPOINT sp;
TRUNCATE side;
DELETE FROM big WHERE id > 490;
COMMIT;
