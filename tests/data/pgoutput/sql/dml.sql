-- protos: 1 2
-- Insert / update / update of the key / delete on a table with a primary key; mixed-case
-- names, NULLs, non-ASCII and control characters in values.
CREATE SCHEMA "Sales";
CREATE TABLE "Sales"."OrderItems" (id int PRIMARY KEY, "Qty" int, note text, price numeric(10,2), shipped boolean);
INSERT INTO "Sales"."OrderItems" VALUES (1, 5, 'héllo wörld ✓ 日本語', 12.50, true), (2, NULL, NULL, NULL, NULL);
UPDATE "Sales"."OrderItems" SET "Qty" = 7, note = 'naïve café' WHERE id = 1;
UPDATE "Sales"."OrderItems" SET id = 20 WHERE id = 2;
DELETE FROM "Sales"."OrderItems" WHERE id = 1;
BEGIN;
INSERT INTO "Sales"."OrderItems" VALUES (3, 1, 'multi', 0.01, false);
INSERT INTO "Sales"."OrderItems" VALUES (4, 2, E'tab\there\nnew line', -3.75, true);
COMMIT;
