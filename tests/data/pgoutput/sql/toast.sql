-- protos: 1
-- An out-of-line TOASTed value left unchanged by an update comes as 'u'.
CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO docs SELECT 1, 'first', string_agg(md5(i::text), '') FROM generate_series(1, 100) i;
UPDATE docs SET title = 'renamed' WHERE id = 1;
UPDATE docs SET body = 'short now' WHERE id = 1;
DELETE FROM docs WHERE id = 1;
