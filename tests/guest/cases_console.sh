# tests/guest/cases_console.sh: the serial console is interactive and
# interrupt-driven (issue 5, item 4), sourced by tests/run-tests.
#
# guests/console_echo.c is a line shell on COM1 that receives only through
# the UART's received-data interrupt (I/O APIC pin 4) and waits with
# STI;HLT; it echoes, edits (Backspace, Ctrl-C) and runs echo / count /
# cpus / poweroff / reboot / exit N. "count" prints "count: typed=T
# received=R irqs=I stalls=S": T bytes through the line editor up to that
# Enter (exact, so any lost or doubled byte shows), R bytes the interrupt
# handler took from RBR, I RX interrupts, S times the guest's 512-byte ring
# was full and it stopped RX interrupts (flow control back through the
# UART's FIFO to hyve's stdin reader).
#
#   console/pipe/*  input through a pipe, all at once: every byte arrives,
#                   in order, faster than the guest echoes; the guest's exit
#                   request gives hyve's status (poweroff 0, reboot 4,
#                   exit 5 -> 11); at EOF the guest just waits: --timeout
#                   ends hyve with 10 after the last command ran
#   console/cpus/*  "cpus" under both AP start-up protocols (APs started at boot)
#   console/pty/*   hyve on a pseudo-terminal (python3's pty module): raw
#                   mode while it runs, each keystroke echoed by the guest
#                   before Enter, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A x
#                   quits with status 0 (frontend/console.c on_quit: the same
#                   status as a guest power-off), and the terminal's modes
#                   are restored on exit, also after a guest power-off
# Cost: 8 runs, about 7 s (3 of them the EOF case waiting for its --timeout).

: "${G:?cases_console.sh: the harness must set G to the guests build dir}"

CON_ELF=$G/console_echo.elf
CON_TMO=(--timeout 20)

con_result() { # NAME WHY SECS [OUTFILE ERRFILE]
	local name=${CASE_PREFIX:-}$1
	shift
	set -- "$name" "$@"
	if [ -z "$2" ] && [ -n "${CASE_NOT_ERR:-}" ] && [ $# -ge 5 ] && grep -Eq -- "$CASE_NOT_ERR" "$5"; then
		set -- "$1" "stderr has /$CASE_NOT_ERR/" "${@:3}"
	fi
	if [ -z "$2" ]; then
		N_PASS=$((N_PASS + 1))
		echo "ok   $1 (${3}s)"
	else
		N_FAIL=$((N_FAIL + 1))
		FAILED+=("$1")
		echo "FAIL $1 (${3}s): $2"
		if [ $# -ge 5 ]; then
			tail -c 1200 "$4" | tr -d '\r' | tail -15 | sed 's/^/    out: /'
			tail -15 "$5" | sed 's/^/    err: /'
		fi
	fi
}

con_wanted() { # NAME: 0 if the case runs; counts a skip without /dev/kvm
	[ -n "${CASE_SKIP_RE:-}" ] && [[ $1 =~ $CASE_SKIP_RE ]] && return 1
	set -- "${CASE_PREFIX:-}$1"
	[ -n "$FILTER" ] && ! [[ $1 =~ $FILTER ]] && return 1
	case_start "$1" || return 1
	if [ "$KVM_OK" = 0 ]; then
		N_SKIP=$((N_SKIP + 1))
		[ "$VERBOSE" = 1 ] && echo "SKIP $1 (no /dev/kvm)"
		return 1
	fi
	return 0
}

# con_pipe NAME STATUS INPUT [--line TEXT]... [--out RE]... [--not-out RE]...
#          [--raw BYTES]... [--err RE]... [--check FN] -- HYVE_ARGS...
# Pipes file INPUT into hyve (`cat INPUT | hyve ...`: a pipe, all at once)
# and checks the status and the output with CRs removed: --line a whole
# line equal to TEXT, --out/--not-out a line matching RE (ERE), --raw the
# bytes BYTES anywhere in the raw output, --err stderr; --check FN calls
# FN OUTFILE, which prints a reason when something is wrong.
con_pipe() {
	local name=$1 want=$2 input=$3
	shift 3
	local lines=() outs=() nouts=() raws=() errs=() checks=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		case "$1" in
		--line) lines+=("$2") ;;
		--out) outs+=("$2") ;;
		--not-out) nouts+=("$2") ;;
		--raw) raws+=("$2") ;;
		--err) errs+=("$2") ;;
		--check) checks+=("$2") ;;
		*) echo "cases_console: bad option '$1' in case $name" >&2; N_FAIL=$((N_FAIL + 1)); return ;;
		esac
		shift 2
	done
	shift
	con_wanted "$name" || return
	local out=$TMPD/con.out txt=$TMPD/con.txt err=$TMPD/con.err t1 t2 rc why='' x
	t1=$(date +%s.%N)
	# shellcheck disable=SC2002 # a pipe on purpose: not a regular file on stdin
	cat "$input" | timeout -k 5 120 "$HYVE" "$@" >"$out" 2>"$err"
	rc=$?
	t2=$(date +%s.%N)
	tr -d '\r' <"$out" >"$txt"
	[ "$rc" = "$want" ] || why="exit status $rc, want $want"
	for x in "${lines[@]}"; do grep -aqxF -- "$x" "$txt" || why="${why:+$why; }no line '${x:0:60}'"; done
	for x in "${outs[@]}"; do grep -aEq -- "$x" "$txt" || why="${why:+$why; }stdout lacks /$x/"; done
	for x in "${nouts[@]}"; do grep -aEq -- "$x" "$txt" && why="${why:+$why; }stdout has /$x/"; done
	for x in "${raws[@]}"; do grep -aqF -- "$x" "$out" || why="${why:+$why; }raw stdout lacks '$(printf %q "$x")'"; done
	for x in "${errs[@]}"; do grep -aEq -- "$x" "$err" || why="${why:+$why; }stderr lacks /$x/"; done
	for x in "${checks[@]}"; do
		local r
		r=$("$x" "$txt")
		[ -z "$r" ] || why="${why:+$why; }$r"
	done
	con_result "$name" "$why" "$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")" "$out" "$err"
}

# --- piped input: commands, editing, exact byte counts, power-off ---
DEL=$'\x7f'
BS=$'\b'
CTRL_C=$'\x03'
CON_IN1=$TMPD/con-cmds.in
{
	printf 'echo hello world\ncount\n'
	printf 'help\ncpus\nfrobnicate now\n'
	printf 'echo hellp%so\n' "$DEL"                      # Backspace as terminals send it (DEL)
	printf 'echo abc%s%s%sxyz\n' "$BS" "$BS" "$BS"      # and as ^H
	printf '%secho   spaced   out\r\n' "$DEL"          # DEL on an empty line; CR LF is one Enter
	printf 'partial line%s' "$CTRL_C"                    # Ctrl-C drops the line
	printf 'exit\ncount\n'
} >"$CON_IN1"
CON_TYPED1=$(wc -c <"$CON_IN1")
printf 'poweroff\n' >>"$CON_IN1"
con_pipe console/pipe/commands 0 "$CON_IN1" \
	--out '^console_echo: 1 CPU\(s\); input by COM1 RX interrupts \(I/O APIC pin 4' \
	--line 'hyve$ echo hello world' --line 'hello world' \
	--out '^count: typed=23 received=(2[3-9]|[3-9][0-9]|[1-9][0-9][0-9]) irqs=[1-9][0-9]* stalls=0$' \
	--line 'commands: echo TEXT, count, cpus, sleep MS, poweroff, reboot, exit N, help' \
	--line 'cpus: 1 online of 1 configured' \
	--line "error: unknown command 'frobnicate'" \
	--raw "hellp$BS ${BS}o" --line 'hello' --line 'xyz' --line '  spaced   out' \
	--raw "partial line^C" --not-out "unknown command 'partial'" \
	--line 'error: exit needs a number' \
	--out "^count: typed=$CON_TYPED1 received=[0-9]+ irqs=[0-9]+ stalls=0\$" \
	--line 'powering off' --not-out 'did not stop' \
	-- "${CON_TMO[@]}" "$CON_ELF"

# --- piped input: a 3000-byte line and 200 more lines at once. "sleep 300"
# first: while the guest sleeps its ring fills, it stops RX interrupts, the
# UART's FIFO fills and hyve stops reading stdin (flow control on any host) ---
CON_IN2=$TMPD/con-many.in
CON_LONG=$(for i in $(seq 0 99); do printf '%03d-abcdefghijklmnopqrstuvwxyz' "$i"; done) # 3000 bytes
{
	printf 'sleep 300\n'
	printf 'echo %s\n' "$CON_LONG"
	for i in $(seq 0 199); do printf 'echo line %d\n' "$i"; done
	printf 'count\n'
} >"$CON_IN2"
CON_TYPED2=$(wc -c <"$CON_IN2")
printf 'exit 5\n' >>"$CON_IN2"
con_many_order() {
	diff <(grep -a '^line [0-9]*$' "$1") <(seq -f 'line %g' 0 199) >/dev/null ||
		echo "the 200 lines are not all there in order"
	[ "$(grep -ac -- "-abcdefghijklmnopqrstuvwxyz" "$1")" = 2 ] ||
		echo "the long line is not echoed once and printed once"
}
con_pipe console/pipe/long-line-and-200-lines 11 "$CON_IN2" \
	--line "hyve\$ echo $CON_LONG" --line "$CON_LONG" --check con_many_order \
	--out "^count: typed=$CON_TYPED2 received=[0-9]+ irqs=[0-9]+ stalls=[1-9][0-9]*\$" --line 'exit 5' \
	-- "${CON_TMO[@]}" "$CON_ELF"

# --- the other ways out ---
CON_IN3=$TMPD/con-reboot.in
printf 'echo bye\nreboot\necho not reached\n' >"$CON_IN3"
con_pipe console/pipe/reboot 4 "$CON_IN3" --line bye --line rebooting --not-out '^not reached' \
	-- "${CON_TMO[@]}" "$CON_ELF"

# EOF without a command: the guest keeps waiting (hyve only stops reading);
# --timeout ends it. Everything typed was received, the prompt is back.
CON_IN4=$TMPD/con-eof.in
printf 'echo one\ncount\n' >"$CON_IN4"
con_eof_prompt() { [ "$(tail -c 6 "$1")" = 'hyve$ ' ] || echo "the guest did not print its prompt after the last command"; }
con_pipe console/pipe/eof-waits 10 "$CON_IN4" --line one \
	--out '^count: typed=15 received=15 irqs=[1-9][0-9]* stalls=0$' --check con_eof_prompt \
	--err 'timeout: the guest ran longer than 3 s' --not-out 'every vCPU is halted' \
	-- --timeout 3 "$CON_ELF"

# --- SMP: "cpus" counts the APs started at boot, under both protocols ---
CON_IN5=$TMPD/con-cpus.in
printf 'cpus\npoweroff\n' >"$CON_IN5"
for p in ipi-exit spinup-ap; do
	con_pipe "console/cpus/$p" 0 "$CON_IN5" --out '^start: 3 of 3 expected APs reported exactly once' \
		--line 'cpus: 4 online of 4 configured' --line 'powering off' \
		-- "${CON_TMO[@]}" --cpus 4 --ap-startup=$p "$CON_ELF"
done

# A prompt without a newline reaches a pipe while the guest waits for input
# (a line-buffered console showed it only at exit), and SIGTERM ends hyve
# with 128 + 15.
con_prompt() {
	local name=console/pipe/prompt-flushed
	con_wanted "$name" || return
	local fifo=$TMPD/con-fifo out=$TMPD/con-out err=$TMPD/con-err why= t1 t2 rc
	rm -f "$fifo"
	mkfifo "$fifo"
	t1=$(date +%s.%N)
	"$HYVE" "${CON_TMO[@]}" "$CON_ELF" <"$fifo" >"$out" 2>"$err" &
	local pid=$!
	exec {hold}>"$fifo" # stdin stays open: the guest waits at its prompt
	local i
	for ((i = 0; i < 150; i++)); do
		tail -c 6 "$out" 2>/dev/null | grep -q 'hyve\$ $' && break
		sleep 0.1
	done
	tail -c 6 "$out" | grep -q 'hyve\$ $' || why="the prompt 'hyve\$ ' did not reach the pipe within 15 s"
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	exec {hold}>&-
	[ "$rc" = 143 ] || why="${why:+$why; }exit status $rc after SIGTERM, want 143"
	t2=$(date +%s.%N)
	con_result "$name" "$why" "$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")" "$out" "$err"
}
con_prompt

# --- a real terminal ---
CON_PTY=$TMPD/con-pty.py
cat >"$CON_PTY" <<'EOF'
# Runs hyve on a pseudo-terminal and types into it like a person would.
# argv: MODE (quit | quit-unread | poweroff) HYVE ARGS...; prints problems,
# exits 1 if any.
import fcntl, os, re, struct, subprocess, sys, termios, threading, time

mode, cmd = sys.argv[1], sys.argv[2:]
master, slave = os.openpty()
saved = termios.tcgetattr(slave)
buf, lock, problems = bytearray(), threading.Lock(), []

def reader():
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            return
        if not data:
            return
        with lock:
            buf.extend(data)

def wait_for(pattern, what, secs=15):
    end = time.time() + secs
    while time.time() < end:
        with lock:
            m = re.search(pattern, bytes(buf))
        if m:
            return m
        time.sleep(0.01)
    problems.append("no %s within %d s" % (what, secs))
    return None

def typed(text, delay=0.03):
    for ch in text:
        os.write(master, ch.encode("latin-1"))
        time.sleep(delay)

threading.Thread(target=reader, daemon=True).start()
proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, start_new_session=True)
try:
    if mode == "quit-unread":
        # A guest that never reads COM1: type more than its FIFO holds, then
        # Ctrl-A x must end hyve at once, and no typed key may be left for
        # the shell.
        wait_for(rb"spin: spinning forever", "the guest's line")
        typed("x" * 40 + "\r" + "echo left over\r", 0.005)
        time.sleep(0.3)
        typed("\x01x", 0.05)
    elif wait_for(rb"hyve\$ ", "prompt"):
        lflag = termios.tcgetattr(slave)[3]
        if lflag & (termios.ICANON | termios.ECHO | termios.ISIG):
            problems.append("the terminal is not in raw mode while hyve runs")
        if mode == "quit":
            typed("echo hix")
            wait_for(rb"hyve\$ echo hix", "echo of the keystrokes before Enter")
            typed("\x7f")
            wait_for(rb"hix\x08 \x08", "Backspace erasing on the screen")
            typed("\r")
            wait_for(rb"\nhi\r*\n", "output of echo")
            typed("\x01\x01count\r")  # Ctrl-A Ctrl-A: one Ctrl-A reaches the guest
            m = wait_for(rb"count: typed=(\d+) received=(\d+) irqs=(\d+)", "count line")
            if m:
                t, r, i = (int(x) for x in m.groups())
                if t != 17 or r != 17:
                    problems.append("count: typed=%d received=%d, want 17 17" % (t, r))
                if i < 9:
                    problems.append("count: %d RX interrupts for 17 keystrokes typed one by one" % i)
                print("pty: %d keystrokes, %d RX interrupts" % (r, i))
            typed("nope\x03")
            wait_for(rb"nope\^C", "Ctrl-C")
            typed("\x01x", 0.05)  # Ctrl-A x: quit
        elif mode == "quit-unread":
            pass
        else:
            typed("poweroff\r")
            wait_for(rb"powering off", "power-off message")
    try:
        rc = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        problems.append("hyve did not end")
    want = 0 if mode == "poweroff" else 16
    if rc != want:
        problems.append("exit status %d, want %d" % (rc, want))
    if termios.tcgetattr(slave) != saved:
        problems.append("the terminal modes were not restored")
    left = struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"))[0]
    if left:
        problems.append("%d typed bytes left in the terminal for the shell" % left)
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
err = proc.stderr.read().decode(errors="replace").strip()
if problems:
    print("; ".join(problems))
    with lock:
        print("output: %r" % bytes(buf)[-600:])
    if err:
        print("stderr: " + err)
    sys.exit(1)
EOF
con_pty() { # NAME MODE [GUEST]
	con_wanted "$1" || return
	if ! command -v python3 >/dev/null; then
		N_SKIP=$((N_SKIP + 1))
		echo "SKIP $1 (no python3; tools/ensure-deps installs it)"
		return
	fi
	local t1 t2 out why=
	t1=$(date +%s.%N)
	out=$(timeout -k 5 120 python3 "$CON_PTY" "$2" "$HYVE" "${CON_TMO[@]}" "${3:-$CON_ELF}" 2>&1) || why=${out:-python3 failed}
	t2=$(date +%s.%N)
	con_result "$1" "$why" "$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")"
	[ "$VERBOSE" = 1 ] && [ -n "$out" ] && echo "    $out"
}
con_pty console/pty/type-edit-ctrl-a-x quit
con_pty console/pty/poweroff poweroff
con_pty console/pty/ctrl-a-x-unread-guest quit-unread "$G/spin.elf"

# A stdout that never drains (a pipe nobody reads, here 4 KiB deep) must not
# keep hyve from ending: the guest echoes ~250 KiB, fills the pipe and then
# hyve's 64 KiB queue (it waits: back-pressure), and SIGTERM must still end
# hyve at once with status 143 (it used to hang: a vCPU blocked in write()).
CON_STUCK_PY=$TMPD/con_stuck.py
cat >"$CON_STUCK_PY" <<'PY'
import fcntl, os, signal, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: a one-page pipe
inp = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdin=open(inp, "rb"), stdout=w, stderr=subprocess.PIPE)
os.close(w)
time.sleep(3)  # the pipe and hyve's queue fill; the guest waits
if p.poll() is not None:
    sys.exit("hyve ended before the SIGTERM (status %s): the output did not fill the pipe" % p.returncode)
p.send_signal(signal.SIGTERM)
t0 = time.time()
try:
    rc = p.wait(timeout=15)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    sys.exit("hyve did not end within 15 s of SIGTERM with its stdout stuck")
if rc != 143:
    sys.exit("exit status %d after SIGTERM, want 143; stderr: %s" % (rc, p.stderr.read().decode()[-300:]))
print("ended %.1f s after SIGTERM" % (time.time() - t0))
PY
con_stuck() {
	con_wanted "$1" || return
	local in=$TMPD/con_stuck.in t1 t2 out why=
	for i in $(seq 2000); do echo "echo line $i of the stuck-stdout test, echoed twice by the guest"; done >"$in"
	t1=$(date +%s.%N)
	out=$(timeout -k 5 60 python3 "$CON_STUCK_PY" "$in" "$HYVE" --timeout 50 "$CON_ELF" 2>&1) || why=${out:-python3 failed}
	t2=$(date +%s.%N)
	con_result "$1" "$why" "$(printf '%.2f' "$(echo "$t2 - $t1" | bc)")"
}
con_stuck console/stdout-stuck/sigterm
