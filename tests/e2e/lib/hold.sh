# Sessions a test holds open (source it after lib/pg.sh): hold NAME DB SQL starts psql on DB
# reading from a fifo and sends SQL (e.g. "begin; lock table t;"); send NAME SQL sends more;
# release NAME ends the session. wait_true DB SQL polls (bounded: 60 s) until SQL returns t.
# $locks and $sessions: pg_locks and pg_stat_activity of the current database only (the
# cluster is shared with the tests running alongside).
declare -A hold_pid=()
locks="(select l.* from pg_locks l join pg_stat_activity a on a.pid = l.pid where a.datname = current_database())"
sessions="(select * from pg_stat_activity where datname = current_database())"
hold() {
  local name=$1 db=$2 sql=$3
  mkfifo "$work/hold_$name"
  psql -qX -d "$db" -v ON_ERROR_STOP=1 <"$work/hold_$name" >"$work/hold_$name.out" 2>&1 &
  hold_pid[$name]=$!
  eval "exec {hold_fd_$name}>\"\$work/hold_\$name\""
  send "$name" "$sql"
}
send() {
  local fd_var="hold_fd_$1"
  printf '%s\n' "$2" >&"${!fd_var}"
}
release() {
  local fd_var="hold_fd_$1"
  # \q rather than EOF: processes started since hold() share the fifo's write end.
  send "$1" '\q'
  eval "exec ${!fd_var}>&-"
  wait "${hold_pid[$1]}" 2>/dev/null || true
  rm -f -- "$work/hold_$1"
}
wait_true() {
  local db=$1 sql=$2 i
  for i in $(seq 600); do
    [ "$(psql -qXAt -d "$db" -c "$sql" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  return 1
}
