-- protos: 1
-- TRUNCATE ... RESTART IDENTITY CASCADE (flags 3, two relations) and a plain TRUNCATE.
CREATE TABLE parent (id serial PRIMARY KEY);
CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent);
CREATE TABLE lone (id int);
INSERT INTO parent DEFAULT VALUES;
INSERT INTO child (parent_id) VALUES (1);
INSERT INTO lone VALUES (1);
TRUNCATE parent RESTART IDENTITY CASCADE;
TRUNCATE lone;
