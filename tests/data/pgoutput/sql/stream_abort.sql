-- protos: 2
-- A streamed transaction rolled back as a whole: Stream Abort with subxid = xid. Decoded after
-- the ROLLBACK, the block is empty: the walsender notices the abort when it starts streaming
-- the transaction (a concurrent abort) and sends Stream Start, Stream Stop, Stream Abort.
-- (A rolled-back subtransaction whose rows were streamed is in stream_commit.sql.)
CREATE TABLE scratch (id int PRIMARY KEY, v text);
BEGIN;
INSERT INTO scratch SELECT i, 'v' || i FROM generate_series(1, 600) i;
ROLLBACK;
INSERT INTO scratch VALUES (1, 'kept');
