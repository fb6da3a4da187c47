-- protos: 1
-- REPLICA IDENTITY FULL (old row 'O') and USING INDEX (old key 'K' on a non-PK unique index).
CREATE TABLE full_ident (id int, label text, amount int);
ALTER TABLE full_ident REPLICA IDENTITY FULL;
INSERT INTO full_ident VALUES (1, 'one', 10), (2, 'two', NULL);
UPDATE full_ident SET amount = 11 WHERE id = 1;
DELETE FROM full_ident WHERE id = 2;
CREATE TABLE index_ident (id int NOT NULL, code text NOT NULL, v int);
CREATE UNIQUE INDEX index_ident_code ON index_ident (code);
ALTER TABLE index_ident REPLICA IDENTITY USING INDEX index_ident_code;
INSERT INTO index_ident VALUES (1, 'A', 1);
UPDATE index_ident SET code = 'B' WHERE id = 1;
DELETE FROM index_ident WHERE code = 'B';
