#!/usr/bin/env bash
# The envctl command line: dispatch through links, exit codes, suggestions, upward Envfile
# search, envinit/envvalidate/envstatus with and without --json, make install.
source "$(dirname "$0")/lib.sh"
BIN=$(dirname "$ENVCTL")

cd "$T"
out=$("$ENVCTL" --version); check "--version prints the version" grep -q "^envup [0-9]" <<<"$out"
out=$("$BIN/envvalidate" --help); check "envvalidate --help shows usage" grep -q "usage: envvalidate" <<<"$out"
out=$("$BIN/envup" --help); check "envup (run by envctl-full) answers through the light envctl" \
	grep -q "usage: envup" <<<"$out"
out=$("$ENVCTL" up --help); check "envctl up reaches envctl-full too" grep -q "usage: envup" <<<"$out"
# The light envctl (status, validate, init, box) must not load what only changing machines
# needs: the image codecs, the box store's hashes, HTTP, SSH, archives (issue 12: envstatus
# stays fast). envctl-full, which links them, shows that the pattern finds them.
heavy='lib(zstd|deflate|crypto|ssl|curl|archive|ssh|z|slirp|seccomp|glib-2\.0)\.so'
for prog in "$ENVCTL" "$BIN/../libexec/envup/envctl-full"; do
	readelf -d "$prog" | grep '(NEEDED)' | grep -Eo '\[[^]]*\]' >"$T/needed.${prog##*/}"
done
check "the light envctl needs no image, box, network or SSH library ($(tr -d '[]' <"$T/needed.envctl" | tr '\n' ' '))" \
	bash -c 'grep -q "^\[libc\.so" "$2" && ! grep -Eq "\[$1" "$2"' _ "$heavy" "$T/needed.envctl"
check "envctl-full does need them (the check above can see them)" \
	grep -Eq "\[$heavy" "$T/needed.envctl-full"
"$ENVCTL" stauts 2>"$T/err"; rc=$?
check "unknown command exits 2" test "$rc" -eq 2
check "unknown command suggests the nearest" grep -q "did you mean 'status'" "$T/err"
"$ENVCTL" status --bogus 2>/dev/null; rc=$?
check "unknown option exits 2" test "$rc" -eq 2
"$ENVCTL" 2>/dev/null; rc=$?
check "no command exits 2" test "$rc" -eq 2

"$BIN/envstatus" 2>"$T/err"; rc=$?
check "no Envfile is a failure (1)" test "$rc" -eq 1
check "no Envfile says what to do" grep -q "envinit" "$T/err"

"$BIN/envinit" --box org/demo >/dev/null; rc=$?
check "envinit writes an Envfile" test "$rc" -eq 0 -a -f Envfile
check "envinit uses --box" grep -q "box: org/demo" Envfile
cp Envfile Envfile.orig
"$BIN/envinit" 2>"$T/err"; rc=$?
check "envinit refuses to overwrite" test "$rc" -eq 1
check "envinit left the Envfile alone" cmp -s Envfile Envfile.orig
check "the written Envfile is valid" "$BIN/envvalidate" -q
# --box takes URLs and paths too: whatever YAML or ${VAR} would change is quoted.
for box in https://example.com/boxes/a.box "/srv/it's #1: \${HOME} [x].box"; do
	mkdir "$T/init" && (cd "$T/init" && "$BIN/envinit" --box "$box" >/dev/null &&
		"$BIN/envstatus" --json) >"$T/out" 2>&1
	check "envinit --box '$box' loads back as itself" python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); assert d["machines"][0]["box"] == sys.argv[2], d' "$T/out" "$box"
	rm -rf "$T/init"
done
(mkdir "$T/init" && cd "$T/init" && "$BIN/envinit" --box $'a\nb: c' 2>/dev/null); rc=$?
check "envinit refuses a --box with a newline (2), writing nothing" \
	test "$rc" -eq 2 -a ! -e "$T/init/Envfile"
rm -rf "$T/init"

mkdir -p sub/deeper && cd sub/deeper
out=$("$BIN/envstatus")
check "commands find the Envfile upward" grep -q "default *not created (auto)" <<<"$out"
out=$("$BIN/envstatus" --json)
check "envstatus --json has stable fields" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
m = d["machines"][0]
assert d["envfile"].endswith("/Envfile"), d
assert m == {"name": "default", "state": "not_created", "provider": "auto", "box": "org/demo"}, m
' "$out"
for opt in --no-wait -vv -v -q --json; do
	"$ENVCTL" $opt status >/dev/null 2>"$T/err"; rc=$?
	check "envctl $opt status: common options work before the command too" \
		test "$rc" -eq 0 -a ! -s "$T/err"
done
"$ENVCTL" --bogus status 2>"$T/err"; rc=$?
check "an unknown option before the command exits 2" \
	bash -c "test $rc -eq 2 && grep -q \"unknown option '--bogus'\" '$T/err'"
out=$("$ENVCTL" -v --help); check "envctl --help lists the commands" grep -q "^commands:" <<<"$out"
"$BIN/envstatus" nosuch 2>/dev/null; rc=$?
check "envstatus of an unknown machine is a usage error (2)" test "$rc" -eq 2
"$BIN/envstatus" defualt 2>"$T/err"; rc=$?
check "envstatus of a misspelt machine suggests the nearest, as envup does" \
	bash -c "test $rc -eq 2 && grep -q \"no machine named 'defualt' in .*(did you mean 'default'?)\" '$T/err'"
check "envstatus did not create .envup" test ! -e "$T/.envup"
cd "$T"

cat >Envfile <<'YAML'
version: 1
machines:
  web:
    box: a/b
    memroy: 1024
    cpus: 0
YAML
"$BIN/envvalidate" 2>"$T/err"; rc=$?
check "invalid Envfile exits 1" test "$rc" -eq 1
check "every problem is listed with its position" \
	grep -q "Envfile:5:5: machines.web: unknown key 'memroy' (did you mean 'memory'?)" "$T/err"
check "the second problem too" grep -q "Envfile:6:11: machines.web.cpus" "$T/err"
out=$("$BIN/envvalidate" --json); rc=$?
check "envvalidate --json reports problems" python3 -c '
import json, sys
d = json.loads(sys.argv[1]); assert d["valid"] is False and len(d["problems"]) == 2, d' "$out"
env -u NO_COLOR "$BIN/envstatus" 2>"$T/err" >/dev/null
check "errors carry no colour codes off a terminal" bash -c "! grep -q $'\033' '$T/err'"
# On a terminal (script(1) gives it one) errors are coloured unless NO_COLOR is set.
env -u NO_COLOR script -qec "$(printf %q "$BIN/envstatus")" /dev/null </dev/null >"$T/tty"
check "errors are coloured on a terminal" grep -q $'\033\\[31merror:' "$T/tty"
NO_COLOR=1 script -qec "$(printf %q "$BIN/envstatus")" /dev/null </dev/null >"$T/tty"
check "NO_COLOR turns colour off on a terminal" \
	bash -c "grep -q 'error:' '$T/tty' && ! grep -q $'\033' '$T/tty'"

ENVUP_ENVFILE="$ENVUP_SRC/Envfile.example" "$BIN/envvalidate" -q; rc=$?
check "ENVUP_ENVFILE overrides the search; Envfile.example is valid" test "$rc" -eq 0

make -s -C "$ENVUP_SRC" install PREFIX="$T/prefix" >/dev/null 2>&1
check "make install puts every command link in place" bash -c '
for c in envctl envvmm envup envdestroy envssh envssh-config envhalt envstatus envprovision \
	envbox envvalidate envinit; do test -x "$1/bin/$c" || exit 1; done
test -x "$1/libexec/envup/envctl-full"' _ "$T/prefix"
check "every installed command link names a command" bash -c '
for l in "$1"/bin/env*; do
	[ -L "$l" ] || continue
	"$l" --help 2>&1 | grep -q "^usage: $(basename "$l") " || { echo "$l" >&2; exit 1; }
done' _ "$T/prefix"
out=$("$T/prefix/bin/envup" --help)
check "the installed envup runs" grep -q "usage: envup" <<<"$out"
check "the installed (release) envctl needs no image, box, network or SSH library either" \
	bash -c 'n=$(readelf -d "$2" | grep "(NEEDED)") && grep -q "\[libc\.so" <<<"$n" &&
		! grep -Eq "\[$1" <<<"$n"' _ "$heavy" "$T/prefix/bin/envctl"
finish
