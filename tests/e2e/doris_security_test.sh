#!/usr/bin/env bash
# Doris and the keys to it: the credentials never follow a redirect to a node the user did not
# name and the FE does not list (nothing reaches it, exit 1 naming it; named in
# [doris] trusted_bes, it gets the loads); https to the FE and the
# BEs with a test CA made here with openssl (right CA: rows arrive; wrong CA, wrong host name,
# a plain-http node: one clear line, exit 1; tls_verify=false: loads, with a warning); odd
# names (a database that needs URL encoding loads; a column with a line break is refused
# naming table and column, escaped).
# uses-fixture: pg
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/pg.sh"
# shellcheck disable=SC1091
. "$(dirname "$0")/lib/doris.sh"

db=doris_security_$$
new_db "$db"
psql -qX -v ON_ERROR_STOP=1 -d "$db" <<'SQL'
create table t(id bigint primary key, note text);
insert into t select g, 'row ' || g from generate_series(1, 5000) g;
SQL
src=$(url "$db")
expected_rows "$db" "select id::text, note from t" >t.want
same_rows() {  # FILE WHAT
  recorded_rows "$1" >got
  cmp -s t.want got || fail "$2: rows differ from the source ($(wc -l <got) rows recorded)"
}
requests_of() {  # FE_PORT [curl args]: requests a double has answered
  local port=$1
  shift
  curl -sf "$@" "http://127.0.0.1:$port/_double/stats" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}

# 1. A rogue FE redirects loads to a node it does not list and nobody named.
start_double other --password s3cret
other_fe=$FE_PORT other_be=$BE_PORT
start_double rogue --password s3cret --redirect-to "127.0.0.1:$other_be"
expect_exit 1 "$bin" run --source "$src" --target "doris://root:s3cret@127.0.0.1:$FE_PORT/dw" \
  --state-dir st1
tail -1 err | grep -q "127.0.0.1:$other_be" || fail "redirect: the host is not named: $(tail -1 err)"
tail -1 err | grep -q "credentials not sent" || fail "redirect: unclear error: $(tail -1 err)"
n=$(requests_of "$other_fe")
[ "$n" -eq 0 ] || fail "redirect: the unnamed node received $n request(s)"
grep -q "s3cret" stdout err && fail "redirect: the password was printed"
# Named by the user in [doris] trusted_bes: the loads follow the redirect there.
printf '[doris]\ntrusted_bes = ["127.0.0.1:%s"]\n' "$other_be" >trusted.toml
"$bin" run --config trusted.toml --source "$src" \
  --target "doris://root:s3cret@127.0.0.1:$FE_PORT/dw" --state-dir st1b >out1b 2>err1b ||
  fail "redirect to a BE in trusted_bes: $(tail -3 err1b)"
same_rows other/rec/dw.t.tsv "redirect to a BE in trusted_bes"

# 2. TLS. A CA, a server certificate for 127.0.0.1 and localhost, one for another name, and
#    a second CA that signed nothing of ours.
mkdir tls
(
  cd tls
  key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  key ca.key
  openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=uringmig test CA" 2>/dev/null
  key other.key
  openssl req -x509 -new -key other.key -out other.pem -days 2 -subj "/CN=another CA" 2>/dev/null
  cert() {  # NAME SUBJECT_ALT_NAMES
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf 'subjectAltName=%s\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  }
  cert server "IP:127.0.0.1,DNS:localhost"
  cert elsewhere "DNS:elsewhere.example"
) || fail "making the test certificates"
ca=$work/tls/ca.pem

start_double tls1 --tls-cert tls/server.pem --tls-key tls/server.key
"$bin" run --source "$src" --target "doris+https://root@127.0.0.1:$FE_PORT/dw?tls_ca=$ca" \
  --state-dir st2 >out2 2>err2 || fail "https with the right CA: $(tail -3 err2)"
same_rows tls1/rec/dw.t.tsv "https with the right CA"
# The same through tls=true and the config's CA file.
start_double tls2 --tls-cert tls/server.pem --tls-key tls/server.key
printf '[doris]\ntls_ca_file = "%s"\n' "$ca" >tls.toml
"$bin" run --config tls.toml --source "$src" \
  --target "doris://root@127.0.0.1:$FE_PORT/dw?tls=true" --state-dir st3 >out3 2>err3 ||
  fail "tls=true with [doris] tls_ca_file: $(tail -3 err3)"
same_rows tls2/rec/dw.t.tsv "tls=true with [doris] tls_ca_file"
# A wrong CA: one clear line, exit 1, nothing loaded.
expect_exit 1 "$bin" run --source "$src" \
  --target "doris+https://root@127.0.0.1:$FE_PORT/dw?tls_ca=$work/tls/other.pem" --state-dir st4
tail -1 err | grep -q "certificate of the Doris node at https://127.0.0.1:$FE_PORT was not accepted" ||
  fail "wrong CA: $(tail -1 err)"
tail -1 err | grep -q "tls_ca" || fail "wrong CA: the way out is not named: $(tail -1 err)"
grep -q "trying again" err && fail "wrong CA: retried"
# Host-name verification: a certificate of our CA for another name.
start_double tls3 --tls-cert tls/elsewhere.pem --tls-key tls/elsewhere.key
expect_exit 1 "$bin" run --source "$src" \
  --target "doris+https://root@127.0.0.1:$FE_PORT/dw?tls_ca=$ca" --state-dir st5
tail -1 err | grep -q "was not accepted" || fail "wrong host name: $(tail -1 err)"
# ... accepted only when verification is turned off, with a warning.
"$bin" run --source "$src" --target "doris+https://root@127.0.0.1:$FE_PORT/dw?tls_verify=false" \
  --state-dir st6 >out6 2>err6 || fail "tls_verify=false: $(tail -3 err6)"
grep -q "tls_verify=false.*NOT checked" err6 || fail "tls_verify=false: no warning"
same_rows tls3/rec/dw.t.tsv "tls_verify=false"
# A plain-http node asked for TLS.
expect_exit 1 "$bin" run --source "$src" \
  --target "doris+https://root@127.0.0.1:$other_fe/dw?tls_ca=$ca" --state-dir st7
tail -1 err | grep -q "TLS with the Doris node at https://127.0.0.1:$other_fe failed" ||
  fail "plain http with tls=true: $(tail -1 err)"

# 3. Odd names: a database whose name needs URL encoding.
start_double odd
"$bin" run --source "$src" --target "doris://root@127.0.0.1:$FE_PORT/my%20dw%3Fx" \
  --state-dir st8 >out8 2>err8 || fail "a database named 'my dw?x': $(tail -3 err8)"
same_rows "odd/rec/my%20dw%3Fx.t.tsv" "a database named 'my dw?x'"
# A column (and table) with a line break: refused before anything is sent, both named, escaped.
db2=doris_odd_$$
new_db "$db2"
psql -qX -v ON_ERROR_STOP=1 -d "$db2" -c "create table \"odd
name\"(id int, \"a
b\" text); insert into \"odd
name\" values (1, 'x');"
expect_exit 2 "$bin" run --source "$(url "$db2")" --target "doris://root@127.0.0.1:$FE_PORT/dw" \
  --state-dir st9
tail -1 err | grep -qF 'table public.odd\nname, column a\nb' || fail "odd column: $(cat err)"
grep -q "malformed header" err && fail "odd column: a raw header error"

finish doris_security
