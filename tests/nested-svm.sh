# tests/nested-svm.sh: the nested SVM tier, sourced by tests/run-tests.
#
# The guest cases (tests/guest/cases*.sh) and Linux with real user space run
# again on a real KVM: Debian's kernel as L1 under QEMU's TCG with an
# emulated AMD CPU (SVM, NPT), built and run by tools/nested-svm from Debian
# packages alone. It needs no /dev/kvm on this host, so it runs everywhere.
# Case names get the prefix "svm/"; they count in the summary line.
#
# Inside L1, tests/run-tests runs with HYVE_TIER=svm: the Linux cases boot
# the test kernel and Debian's stock bzImage (the L1 kernel itself) with the
# busybox initramfs, expect user space (hyve-init's line, status 0 from
# poweroff -f, 4 from reboot -f) and insn-completed=0 (the KVM-PVM
# completions never run on SVM).
#
# L1's own failures are not hyve's: a panic, oops or soft lockup of L1's
# kernel (tools/nested-svm status 91), the outer timeout (92) or an L1 that
# ends without a result (93) are reported on a line of their own, "L1
# FAILURE ...", with the case that was running; L1 is then started again and
# the run goes on after the cases already done, that case included (up to
# HYVE_NESTED_L1_RETRIES more L1s, default 2). A case during which L1 fails
# twice counts as failed ("L1 failed twice while it ran"), and so does any L1
# failure beyond the retries. An L1 that cannot be set up (90: no /dev/kvm,
# a module that does not load) fails the tier at once.
#
# HYVE_SKIP_NESTED=1 leaves the tier out (one skip). HYVE_NESTED_TIMEOUT sets
# the outer timeout of one L1 in seconds (default 2400).

nested_tier() {
	# --filter '^svm/REGEX' (or 'svm/REGEX') selects nested cases by REGEX;
	# a filter that does not start with svm/ selects none.
	local inner_filter=
	case "$FILTER" in
	"") ;;
	"^svm/"*) inner_filter="^${FILTER#^svm/}" ;;
	"svm/"*) inner_filter=${FILTER#svm/} ;;
	*) return ;;
	esac
	if [ "${HYVE_SKIP_NESTED:-0}" = 1 ]; then
		N_SKIP=$((N_SKIP + 1))
		echo "SKIP svm/*: HYVE_SKIP_NESTED=1"
		return
	fi
	local nd=$BUILD/nested
	mkdir -p "$nd"
	echo "svm: the nested SVM tier (tools/nested-svm; L1's console in $nd/l1-console*.log)"

	# What L1 needs: hyve, its guests, the harness, both Linux kernels and the initramfs.
	local why= stock
	if ! tools/build-linux "$BUILD/linux" >"$TMPD/nested-build" 2>&1; then
		why="tools/build-linux failed: $(tail -1 "$TMPD/nested-build")"
	elif ! tools/build-initramfs "$BUILD/linux/initramfs.cpio" >"$TMPD/nested-build" 2>&1; then
		why="tools/build-initramfs failed: $(tail -1 "$TMPD/nested-build")"
	elif ! stock=$(tools/nested-svm --cache "$nd" --print-kernel 2>"$TMPD/nested-build"); then
		why="tools/nested-svm could not prepare L1: $(tail -1 "$TMPD/nested-build")"
	fi
	if [ -n "$why" ]; then
		N_FAIL=$((N_FAIL + 1)); FAILED+=(svm/L1); echo "FAIL svm/L1: $why"
		return
	fi

	local done_file=$TMPD/nested-done script=$TMPD/nested-run.sh attempt=0 retries=${HYVE_NESTED_L1_RETRIES:-2}
	: >"$done_file"
	local -A l1_failed_during=()
	while :; do
		attempt=$((attempt + 1))
		local log=$nd/l1-console.log
		[ "$attempt" -gt 1 ] && log=$nd/l1-console-$attempt.log
		cat >"$script" <<-EOF
			export HYVE_TIER=svm HYVE_DONE_CASES=/hyve/done-cases LX_STOCK_IMG=/hyve/stock/bzImage
			exec tests/run-tests --build $BUILD --only guest${inner_filter:+ --filter '$inner_filter'}
		EOF
		local cur= summary= line rc res="$TMPD/nested-rc" n_ok=0 n_fail=0
		while IFS= read -r line; do
			case "$line" in
			"@@case "*) cur=${line#@@case } ;;
			"ok   "*)
				echo "ok   svm/${line#ok   }"
				n_ok=$((n_ok + 1))
				echo "$cur" >>"$done_file" ;;
			"FAIL "*)
				echo "FAIL svm/${line#FAIL }"
				n_fail=$((n_fail + 1))
				FAILED+=("svm/${cur:-?}")
				echo "$cur" >>"$done_file" ;;
			"SKIP "*) echo "SKIP svm/${line#SKIP }" ;;
			[0-9]*" passed, "*" failed, "*" skipped") summary=$line ;;
			"failed: "* | "time: "*) ;;
			*) printf '%s\n' "$line" ;;
			esac
		done < <(tools/nested-svm --cache "$nd" --python --kvm-hold "$BUILD/tools/kvm-hold" --log "$log" --timeout "${HYVE_NESTED_TIMEOUT:-2400}" \
			--payload "$BUILD/hyve" --payload "$BUILD/guests" --payload "$BUILD/tools" \
			--payload tests/run-tests --payload tests/guest \
			--file "$BUILD/linux/vmlinux=$BUILD/linux/vmlinux" \
			--file "$BUILD/linux/initramfs.cpio=$BUILD/linux/initramfs.cpio" \
			--file "$stock=stock/bzImage" --file "$done_file=done-cases" \
			"$script" 2>"$TMPD/nested-err"; echo $? >"$res")
		rc=$(cat "$res")
		sed 's/^/    /' "$TMPD/nested-err"
		if [ -n "$summary" ] && [ "$rc" -lt 90 ]; then
			local p f s
			read -r p _ f _ s _ <<<"$summary"
			N_PASS=$((N_PASS + p)); N_FAIL=$((N_FAIL + f)); N_SKIP=$((N_SKIP + s))
			[ "$attempt" -gt 1 ] && echo "svm: finished in L1 number $attempt"
			return
		fi
		# No result from this L1: count what it finished, then say why.
		N_PASS=$((N_PASS + n_ok)); N_FAIL=$((N_FAIL + n_fail))
		why=$(grep '^nested-svm: ' "$TMPD/nested-err" | grep -v '^nested-svm: L1 = \|^nested-svm: L1 ready' |
			head -1 | sed 's/^nested-svm: //')
		echo "L1 FAILURE (tools/nested-svm status $rc) while svm/${cur:-(no case yet)} ran: $why"
		if [ "$rc" = 90 ]; then
			N_FAIL=$((N_FAIL + 1)); FAILED+=(svm/L1); echo "FAIL svm/L1: L1 could not be set up"
			return
		fi
		if [ -n "$cur" ] && ! grep -qxF -- "$cur" "$done_file"; then
			if [ -n "${l1_failed_during[$cur]:-}" ]; then
				echo "FAIL svm/$cur: L1 failed twice while it ran (console: $log)"
				N_FAIL=$((N_FAIL + 1)); FAILED+=("svm/$cur")
				echo "$cur" >>"$done_file"
			fi
			l1_failed_during[$cur]=1
		fi
		if [ "$attempt" -gt "$retries" ]; then
			N_FAIL=$((N_FAIL + 1)); FAILED+=(svm/L1)
			echo "FAIL svm/L1: L1 failed $attempt times; the cases after svm/${cur:-?} did not run"
			return
		fi
		echo "svm: starting L1 again (number $((attempt + 1))), after the $(grep -c . "$done_file") cases already done"
	done
}
nested_tier
