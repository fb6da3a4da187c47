#!/usr/bin/env bash
# scripts/sample-clients.sh FILE ROWS: a sample SQLite clients table (the demo's and the
# benchmark's): INN (12 digits), MOBILE_NUMBER ('79' + 9 digits; ~1% NULL, ~1% empty, ~1%
# blank), SNILS ('NNN-NNN-NNN NN'), name (a mix of Cyrillic and Latin), balance (REAL).
# Deterministic: the same FILE for the same ROWS.
set -euo pipefail
file=$1
rows=$2
rm -f "$file" "$file-wal" "$file-shm"
sqlite3 "$file" <<SQL
pragma journal_mode = off;
pragma synchronous = off;
create table clients(INN text, MOBILE_NUMBER text, SNILS text, name text, balance real);
with recursive n(i) as (select 1 union all select i + 1 from n where i < $rows)
insert into clients
select printf('%012d', 770000000000 + (i * 7919) % 100000000000),
       case when i % 97 = 0 then null
            when i % 89 = 0 then ''
            when i % 83 = 0 then '   '
            else printf('79%09d', (i * 104729) % 1000000000) end,
       printf('%03d-%03d-%03d %02d', i % 1000, (i / 1000) % 1000, (i * 7) % 1000, i % 100),
       case i % 3 when 0 then 'Иванов Иван ' || i when 1 then 'Petrova Anna ' || i
                  else 'Сидоров-Smith ' || i end,
       round((i * 37 % 10000000) / 100.0, 2)
from n;
SQL
