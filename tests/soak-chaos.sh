#!/usr/bin/env bash
# soak-chaos.sh: the long chaos soak of issue 12 on this host's KVM (make soak).
# Usage: tests/soak-chaos.sh [--build DIR] [--hyve BIN] [--runs N] [--ms MS] [--seed S]
#
# N fresh hyve runs (default 300) of guests/chaos.c, run i with seed S + i
# (S defaults to the time, so each soak covers new seeds) and MS milliseconds
# of chaos (default 4000), cycling through xAPIC and x2APIC, ipi-exit and
# spinup-ap, and 4, 2 and 8 vCPUs (4 twice as often). hyve is
# DIR/san/hyve (ASan, UBSan, LeakSanitizer) unless --hyve says otherwise
# (--hyve DIR/tsan/hyve: ThreadSanitizer, a report is status 66).
# Each run asks for its own exit status (exit=32 + i % 64); it fails unless
# hyve ends with exactly that status, stdout has no FAIL and stderr no
# sanitizer report. A failed run prints the end of its output and the command
# that repeats its seed. Ends with
#   soak-chaos: R runs, F failed, seeds A..B, G s of chaos, W s
# and status 0 if F is 0.
set -u
BUILD=build HYVE= RUNS=300 MS=4000 SEED=$(date +%s)
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--hyve) HYVE=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--ms) MS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	*) echo "soak-chaos: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
for v in RUNS MS SEED; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak-chaos: --${v,,}: '${!v}' is not a number" >&2; exit 2; }
done
cd "$(dirname "$0")/.." || exit 2
HYVE=${HYVE:-$BUILD/san/hyve}
for f in "$HYVE" "$BUILD/guests/chaos.elf"; do
	[ -e "$f" ] || { echo "soak-chaos: $f is missing (make all)" >&2; exit 2; }
done
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "soak-chaos: /dev/kvm is missing or not accessible: nothing to do"
	exit 0
fi
export ASAN_OPTIONS=detect_leaks=1:exitcode=97 UBSAN_OPTIONS=halt_on_error=1:exitcode=98
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CPUS=(4 2 4 8)
t0=$(date +%s)
fails=0 chaos_ms=0
for ((i = 0; i < RUNS; i++)); do
	seed=$((SEED + i)) code=$((32 + i % 64))
	x2=
	((i % 2)) && x2=x2apic
	p=ipi-exit
	(((i / 2) % 2)) && p=spinup-ap
	n=${CPUS[$(((i / 4) % 4))]}
	args=(--timeout 120 --cpus "$n" --ap-startup=$p --append "seed=$seed ms=$MS exit=$code $x2")
	timeout -k 5 300 "$HYVE" "${args[@]}" "$BUILD/guests/chaos.elf" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	ms=$(tr -d '\r' <"$tmp/out" | sed -n 's/^chaos: seed=[0-9]*: \([0-9]*\) ms of chaos.*/\1/p')
	chaos_ms=$((chaos_ms + ${ms:-0}))
	if (((i + 1) % 25 == 0)); then
		echo "soak-chaos: $((i + 1)) of $RUNS runs, $fails failed so far, $((chaos_ms / 1000)) s of chaos"
	fi
	if [ "$rc" = $(((code << 1 | 1) & 255)) ] && ! grep -aq '^FAIL' "$tmp/out" &&
		! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer' "$tmp/err"; then
		continue
	fi
	fails=$((fails + 1))
	echo "=== FAIL run $i: status $rc, want $(((code << 1 | 1) & 255)): $HYVE ${args[*]} $BUILD/guests/chaos.elf"
	tr -d '\r' <"$tmp/out" | tr -c '[:print:]\n' '?' | tail -12 | sed 's/^/    out: /'
	tail -30 "$tmp/err" | sed 's/^/    err: /'
done
echo "soak-chaos: $RUNS runs, $fails failed, seeds $SEED..$((SEED + RUNS - 1)), $((chaos_ms / 1000)) s of chaos, $(($(date +%s) - t0)) s"
[ "$fails" = 0 ]
