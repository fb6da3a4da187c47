#!/usr/bin/env bash
# uses-fixture: pg
# Secrets on the local host: a password given on the command line is gone from
# /proc/PID/cmdline while the job runs; the safe ways (PGPASSWORD, a password
# file, ${VAR} from the environment or a .env file) reach every connection,
# pg_dump and pg_restore included, for a password made of URL delimiters; a URL
# error never quotes any part of a password; the state directory and its files
# are private (0700 / 0600) and one that others may write to is refused.
. "$(dirname "${BASH_SOURCE[0]}")/lib/pg.sh"
src=e2e_sec_src_$$
new_db "$src"
psql -qX -v ON_ERROR_STOP=1 -d "$src" <<'SQL'
create table t (id int primary key, v text);
insert into t select g, 'v' || g from generate_series(1, 500) g;
SQL
# A role whose password holds every URL delimiter: only an exactly delivered password works.
role=sec_role_$$
hard='p@ss/w?rd#50%&x=y:z'
psql -qX -v ON_ERROR_STOP=1 -v pw="$hard" <<SQL
create role $role login superuser password :'pw';
SQL
tcp() { echo "postgresql://$role${2:+:$2}@127.0.0.1:$PGFIX_PORT/$1"; }

# ---- 1. argv is scrubbed while the job runs -------------------------------------------------
# A listener that accepts and never answers holds uringmig in its connect; it reports the
# connection, so by then uringmig is well past parsing its arguments.
cat >"$work/hold.py" <<'PY'
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept()
open(sys.argv[2], "w").write("accepted")
while c.recv(4096):  # read whatever libpq sends, never answer
    pass
PY
python3 "$work/hold.py" "$work/port" "$work/accepted" &
hold_pid=$!
for _ in $(seq 1 200); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
"$bin" run --source "postgresql://app:Argv-S3cret-1@127.0.0.1:$port/db" \
  --target="sqlite:///$work/out.db" --state-dir "$work/st_argv" >"$work/argv.out" 2>&1 &
job_pid=$!
for _ in $(seq 1 400); do [ -s "$work/accepted" ] && break; sleep 0.05; done
[ -s "$work/accepted" ] || fail "uringmig never connected to the listener"
cmdline=$(tr '\0' ' ' <"/proc/$job_pid/cmdline" || true)
echo "cmdline while running: $cmdline"
case "$cmdline" in *Argv-S3cret-1*) fail "the password is readable in /proc/PID/cmdline" ;; esac
case "$cmdline" in *"app:xxxxxxxxxxxxx@127.0.0.1:$port"*) ;;
  *) fail "the scrubbed URL is not where it was: $cmdline" ;; esac
kill -KILL "$job_pid" "$hold_pid" 2>/dev/null || true
wait "$job_pid" 2>/dev/null || true
wait "$hold_pid" 2>/dev/null || true

# ---- 2. the safe ways reach every connection (pg_dump / pg_restore included) ----------------
clone() {  # name: a bulk clone of $src into a fresh database; extra args follow
  local name=$1
  shift
  local dst=e2e_sec_${name}_$$
  new_db "$dst"
  expect_exit 0 "$bin" run --preset bulk --state-dir "$work/st_$name" "$@"
  [ "$(psql -qXAt -d "$dst" -c 'select count(*) from t' 2>/dev/null)" = 500 ] ||
    fail "$name: the clone does not hold the 500 rows: $(tail -2 "$work/err")"
  if grep -rqF "$hard" "$work/stdout" "$work/err" "$work/st_$name"; then
    fail "$name: the password was printed or written in the state directory"
  fi
}
dst_of() { echo "e2e_sec_${1}_$$"; }

PGPASSWORD=$hard clone env --source "$(tcp "$src")" --target "$(tcp "$(dst_of env)")"

printf '%s\n' "$hard" >"$work/pw"
chmod 600 "$work/pw"
clone file --source "$(tcp "$src")" --target "$(tcp "$(dst_of file)")" \
  --source-password-file "$work/pw" --target-password-file "$work/pw"
grep -q 'may be read by other users' "$work/err" && fail "file: a 0600 password file was warned about"

mkdir -p "$work/cfg"
cat >"$work/cfg/job.toml" <<EOF
source = "postgresql://$role:\${SEC_PW}@127.0.0.1:$PGFIX_PORT/$src"
target = "postgresql://$role:\${SEC_PW}@127.0.0.1:$PGFIX_PORT/$(dst_of var)"
EOF
SEC_PW=$hard clone var --config "$work/cfg/job.toml"

printf "SEC_PW='%s'\n" "$hard" >"$work/cfg/.env"
clone dotenv --config "$work/cfg/job.toml" --target "$(tcp "$(dst_of dotenv)" "$(
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$hard")")"

chmod 644 "$work/pw"
expect_exit 0 "$bin" verify --source "$(tcp "$src")" --target "$(tcp "$(dst_of file)")" \
  --source-password-file "$work/pw" --target-password-file "$work/pw"
grep -q 'may be read by other users' "$work/err" || fail "a password file others can read is not warned about"

# ---- 3. URL errors quote no byte of a password -----------------------------------------------
for pw in 'ab/S3cretX' 'ab?S3cretX' '9876/S3cretX' 'ab:cd/S3cretX'; do
  for scheme in postgresql doris; do
    expect_exit 2 "$bin" plan --source "$scheme://u:$pw@127.0.0.1:5432/db" --target "sqlite:///$work/x.db"
    grep -q '^uringmig: ' "$work/err" || fail "$scheme $pw: no error line"
    if grep -qe S3cret -e ':ab' -e 9876 "$work/err"; then
      fail "$scheme $pw: the error quotes part of the password: $(cat "$work/err")"
    fi
  done
done
printf 'BAD_PW=9876/S3cretX\n' >"$work/cfg/.env"
printf 'source = "postgresql://u:${BAD_PW}@127.0.0.1:1/db"\ntarget = "sqlite:///%s/x.db"\n' \
  "$work" >"$work/cfg/bad.toml"
# Encoded as it is pasted, the password makes a sound URL: the failure is the connection's.
expect_exit 1 "$bin" plan --config "$work/cfg/bad.toml"
if grep -qe S3cret -e 9876 "$work/stdout" "$work/err"; then
  fail "a .env password was printed: $(cat "$work/err")"
fi

# ---- 4. a private state directory ------------------------------------------------------------
for d in st_env st_file; do
  [ "$(stat -c %a "$work/$d")" = 700 ] || fail "$d is $(stat -c %a "$work/$d"), want 700"
  others=$(find "$work/$d" -type f -perm /077 | head -3)
  [ -z "$others" ] || fail "files in $d readable by others: $others"
  [ -n "$(find "$work/$d" -type f -name 'state.db')" ] || fail "$d has no state.db"
done
mkdir -m 777 "$work/st_open"
chmod 777 "$work/st_open"
expect_exit 2 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$src")" \
  --state-dir "$work/st_open"
grep -q 'writable by other users' "$work/err" || fail "a world-writable state dir: $(cat "$work/err")"
[ -z "$(ls -A "$work/st_open")" ] || fail "something was written into the refused state dir"
mkdir -m 755 "$work/st_old"
chmod 755 "$work/st_old"
touch "$work/st_old/uringmig.log"
chmod 644 "$work/st_old/uringmig.log"
new_db "$(dst_of old)"
expect_exit 0 "$bin" run --preset bulk --source "$(url "$src")" --target "$(url "$(dst_of old)")" \
  --state-dir "$work/st_old"
[ "$(stat -c %a "$work/st_old")" = 700 ] || fail "an old 0755 state dir was not made private"
[ "$(stat -c %a "$work/st_old/uringmig.log")" = 600 ] || fail "its log stayed readable by others"

finish secrets
