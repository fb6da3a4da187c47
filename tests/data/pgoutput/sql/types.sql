-- protos: 1
-- Columns of non-built-in types (enum, composite, array of enum) bring Type messages.
CREATE TYPE "Mood" AS ENUM ('sad', 'ok', 'happy ☺');
CREATE TYPE point3 AS (x float8, y float8, label text);
CREATE TABLE typed (id int PRIMARY KEY, m "Mood", p point3, tags "Mood"[]);
INSERT INTO typed VALUES (1, 'happy ☺', ROW(1.5, -2, 'a "q"'), ARRAY['sad', 'ok']::"Mood"[]), (2, NULL, NULL, NULL);
