#!/usr/bin/env bash
# CLI start-up: envctl status and envctl validate on a 20-machine Envfile, median wall time
# over 50 runs and peak RSS (targets: under 5 ms and under 5 MiB each).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/build/rel/bin/envctl
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cc -O2 -o "$dir/runstat" tests/bench/runstat.c
{
	echo "version: 1"
	echo "defaults: {box: org/base, cpus: 2, memory: 1G}"
	echo "machines:"
	for i in $(seq 1 20); do
		cat <<EOM
  node-$i:
    hostname: node-$i.local
    forwarded_ports: [{guest: 80, host: $((8000 + i))}]
    provision:
      - shell: {inline: "echo hello from node $i", name: hello}
EOM
	done
} >"$dir/Envfile"
cd "$dir"
base=$(./runstat 50 /bin/true)
for cmd in status validate; do
	read -r med min rss < <(./runstat 50 "$bin" "$cmd")
	printf 'envctl %-9s 20 machines: median %5.2f ms (min %.2f), peak RSS %5.2f MiB' \
		"$cmd" "$med" "$min" "$(awk "BEGIN{print $rss/1024}")"
	echo "   [target < 5 ms, < 5 MiB; vagrant status: ~1050 ms, 58 MiB]"
done
read -r med min rss <<<"$base"
printf '(for scale: /bin/true median %.2f ms, peak RSS %.2f MiB)\n' "$med" "$(awk "BEGIN{print $rss/1024}")"
