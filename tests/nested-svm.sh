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
# The IPI soak (tests/guest/cases_soak.sh, HYVE_SOAK=1) runs in a second
# series of L1s at the same time: each L1 is one QEMU thread, the host has
# two cores. With a --filter the tier runs in one series, soak cases included.
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

	if [ -n "$inner_filter" ]; then
		(HYVE_SOAK=1 nested_shard main "$inner_filter" "$stock")
	else
		# Two L1s side by side (each QEMU is one host thread): the soak's
		# output comes after the other cases'.
		(HYVE_SOAK=1 nested_shard soak '^soak/' "$stock") >"$TMPD/nested-soak-out" 2>&1 &
		local soak_pid=$!
		(HYVE_SOAK=0 nested_shard main '' "$stock")
		wait "$soak_pid"
		cat "$TMPD/nested-soak-out"
	fi
	local shard p f s name
	for shard in main soak; do
		[ -f "$TMPD/nested-$shard-counts" ] || continue
		read -r p f s <"$TMPD/nested-$shard-counts"
		N_PASS=$((N_PASS + p)); N_FAIL=$((N_FAIL + f)); N_SKIP=$((N_SKIP + s))
		while IFS= read -r name; do FAILED+=("$name"); done <"$TMPD/nested-$shard-failed"
	done
}

# nested_shard TAG INNER_FILTER STOCK_KERNEL: one series of L1s running
# tests/run-tests --only guest (HYVE_SOAK from the environment), L1 failures
# handled as described above. Prints the case lines; leaves "pass fail skip"
# in $TMPD/nested-TAG-counts and the failed names in $TMPD/nested-TAG-failed.
nested_shard() {
	local tag=$1 inner_filter=$2 stock=$3 nd=$BUILD/nested
	local done_file=$TMPD/nested-$tag-done script=$TMPD/nested-$tag-run.sh attempt=0 retries=${HYVE_NESTED_L1_RETRIES:-2}
	local n_pass=0 n_fail=0 n_skip=0 failed=() why
	: >"$done_file"
	local -A l1_failed_during=()
	while :; do
		attempt=$((attempt + 1))
		local log=$nd/l1-console.log
		[ "$tag" != main ] && log=$nd/l1-console-$tag.log
		[ "$attempt" -gt 1 ] && log=${log%.log}-$attempt.log
		cat >"$script" <<-EOF
			export HYVE_TIER=svm HYVE_SOAK=${HYVE_SOAK:-0} SOAK_RUNS=${SOAK_RUNS:-75} HYVE_DONE_CASES=/hyve/done-cases LX_STOCK_IMG=/hyve/stock/bzImage
			exec tests/run-tests --build $BUILD --only guest${inner_filter:+ --filter '$inner_filter'}
		EOF
		local cur= summary= line rc res="$TMPD/nested-$tag-rc" n_ok=0 n_bad=0 err="$TMPD/nested-$tag-err"
		while IFS= read -r line; do
			case "$line" in
			"@@case "*) cur=${line#@@case } ;;
			"ok   "*)
				echo "ok   svm/${line#ok   }"
				n_ok=$((n_ok + 1))
				echo "$cur" >>"$done_file" ;;
			"FAIL "*)
				echo "FAIL svm/${line#FAIL }"
				n_bad=$((n_bad + 1))
				failed+=("svm/${cur:-?}")
				echo "$cur" >>"$done_file" ;;
			"SKIP "*) echo "SKIP svm/${line#SKIP }" ;;
			[0-9]*" passed, "*" failed, "*" skipped") summary=$line ;;
			"failed: "* | "time: "*) ;;
			*) printf '%s\n' "$line" ;;
			esac
		done < <(tools/nested-svm --cache "$nd" --python --bin gdb --kvm-hold "$BUILD/tools/kvm-hold" --log "$log" --timeout "${HYVE_NESTED_TIMEOUT:-2400}" \
			--payload "$BUILD/hyve" --payload "$BUILD/guests" --payload "$BUILD/bench" --payload "$BUILD/tools" \
			--payload tests/run-tests --payload tests/guest \
			--file "$BUILD/linux/vmlinux=$BUILD/linux/vmlinux" \
			--file "$BUILD/linux/initramfs.cpio=$BUILD/linux/initramfs.cpio" \
			--file "$stock=stock/bzImage" --file "$done_file=done-cases" \
			"$script" 2>"$err"; echo $? >"$res")
		rc=$(cat "$res")
		sed 's/^/    /' "$err"
		if [ -n "$summary" ] && [ "$rc" -lt 90 ]; then
			local p f s
			read -r p _ f _ s _ <<<"$summary"
			n_pass=$((n_pass + p)); n_fail=$((n_fail + f)); n_skip=$((n_skip + s))
			[ "$attempt" -gt 1 ] && echo "svm: finished in L1 number $attempt"
			break
		fi
		# No result from this L1: count what it finished, then say why.
		n_pass=$((n_pass + n_ok)); n_fail=$((n_fail + n_bad))
		why=$(grep '^nested-svm: ' "$err" | grep -v '^nested-svm: L1 = \|^nested-svm: L1 ready' |
			head -1 | sed 's/^nested-svm: //')
		echo "L1 FAILURE (tools/nested-svm status $rc) while svm/${cur:-(no case yet)} ran: $why"
		if [ "$rc" = 90 ]; then
			n_fail=$((n_fail + 1)); failed+=(svm/L1); echo "FAIL svm/L1: L1 could not be set up"
			break
		fi
		if [ -n "$cur" ] && ! grep -qxF -- "$cur" "$done_file"; then
			if [ -n "${l1_failed_during[$cur]:-}" ]; then
				echo "FAIL svm/$cur: L1 failed twice while it ran (console: $log)"
				n_fail=$((n_fail + 1)); failed+=("svm/$cur")
				echo "$cur" >>"$done_file"
			fi
			l1_failed_during[$cur]=1
		fi
		if [ "$attempt" -gt "$retries" ]; then
			n_fail=$((n_fail + 1)); failed+=(svm/L1)
			echo "FAIL svm/L1: L1 failed $attempt times; the cases after svm/${cur:-?} did not run"
			break
		fi
		echo "svm: starting L1 again (number $((attempt + 1))), after the $(grep -c . "$done_file") cases already done"
	done
	echo "$n_pass $n_fail $n_skip" >"$TMPD/nested-$tag-counts"
	printf '%s\n' "${failed[@]}" | grep . >"$TMPD/nested-$tag-failed"
}
nested_tier
