-- protos: 1
-- ALTER TABLE in the middle of a transaction: a second Relation message before the next row.
CREATE TABLE evolving (id int PRIMARY KEY, a text);
BEGIN;
INSERT INTO evolving VALUES (1, 'before');
ALTER TABLE evolving ADD COLUMN b int DEFAULT 42;
INSERT INTO evolving VALUES (2, 'after', 7);
COMMIT;
UPDATE evolving SET a = 'x' WHERE id = 1;
ALTER TABLE evolving DROP COLUMN a;
INSERT INTO evolving VALUES (3, 9);
