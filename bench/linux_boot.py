"""linux_boot.py: the Linux boot figure of bench/runner.py (issue 6).

Boots Debian's kernel (linux-image-amd64, /boot/vmlinuz-*) and hyve's small
test kernel (tools/build-linux) with the busybox initramfs of
tools/build-initramfs, 1 and 4 vCPUs, and takes two wall-clock figures per
boot, from the VMM's start: until the kernel prints "Run /init as init
process" (the moment /init runs) and until the VMM exits after /init's
`poweroff -f` (status 0).

The same kernel image and command line go to every VMM: the bzImage, entered
through the 64-bit boot protocol by hyve and by QEMU's -kernel, with
"console=ttyS0 panic=-1". On KVM-PVM hosts (kvm_pvm module) things differ,
and the table says so:
- the bzImage's decompressor is emulated CPL0 code there (most of an hour for
  Debian's xz-compressed kernel), so every VMM gets the vmlinux inside it
  (tools/extract-vmlinux; QEMU and hyve both boot it through its PVH note);
- the command line gains "noxsave rodata=off clocksource=kvm-clock", and for
  Debian's kernel "clearcpuid=ssse3,..." (see tests/guest/cases_linux.sh);
- no user space can run (a user-mode syscall does not enter a stock kernel),
  so /init dies at once and the kernel panics and reboots: the "until
  poweroff" figure cannot exist; the "until /init" one still does.
"""

import glob
import os
import subprocess

KERNELS = (
    # key, label
    ("debian", "Debian's kernel"),
    ("small", "hyve's test kernel (tools/build-linux)"),
)
CPUS = (1, 4)
RUN_INIT = "Run /init as init process"
PVM = os.path.isdir("/sys/module/kvm_pvm")
PVM_APPEND = " noxsave rodata=off clocksource=kvm-clock"
# Debian's kernel runs SSE code PVM's emulator cannot, and crypto self-tests
# that take tens of emulated minutes (tests/guest/cases_linux.sh).
PVM_STOCK_APPEND = " clearcpuid=ssse3,sse4_1,sse4_2,pclmulqdq,aes,sha_ni cryptomgr.notests"


def prepare(opts, root, stock=None, pvm=PVM):
    """Builds or finds what the boots of opts.linux_kernels need; returns
    {kernel key: (image, error)} and the initramfs path (or None with an
    error for every kernel). stock: Debian's kernel as (image, error) when
    the caller has it (bench/nested.py: the one L1 runs), else /boot's.
    pvm: give each VMM the vmlinux inside the bzImage (see above)."""
    out = {}
    initrd = os.path.join(opts.build, "linux", "initramfs.cpio")
    r = subprocess.run([os.path.join(root, "tools", "build-initramfs"), initrd], capture_output=True, text=True)
    if r.returncode != 0:
        why = "tools/build-initramfs failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
        return {k: (None, why) for k, _ in KERNELS}, None
    if "debian" in opts.linux_kernels:
        if stock is None:
            found = sorted(glob.glob("/boot/vmlinuz-*"))
            if not found and os.geteuid() == 0:
                subprocess.run([os.path.join(root, "tools", "ensure-deps"), "linux-image-amd64"], capture_output=True)
                found = sorted(glob.glob("/boot/vmlinuz-*"))
            stock = (found[-1], None) if found else (None, "no /boot/vmlinuz-* (apt-get install linux-image-amd64)")
        out["debian"] = stock
    if "small" in opts.linux_kernels:
        small_dir = os.path.join(opts.build, "linux")
        if not os.path.exists(os.path.join(small_dir, "bzImage")):
            print("  linux: building the test kernel (tools/build-linux, 7-10 min the first time) ...", flush=True)
        r = subprocess.run([os.path.join(root, "tools", "build-linux"), small_dir], capture_output=True, text=True)
        out["small"] = ((os.path.join(small_dir, "bzImage"), None) if r.returncode == 0 else
                        (None, "tools/build-linux failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]))
    if pvm:
        for key in list(out):
            img, err = out[key]
            if err:
                continue
            # The same caches as tests/guest/cases_linux.sh.
            vml = (os.path.join(opts.build, "linux-stock", "vmlinux-" + os.path.basename(img)[len("vmlinuz-"):])
                   if key == "debian" else os.path.join(opts.build, "linux", "vmlinux"))
            if not os.path.exists(vml):
                os.makedirs(os.path.dirname(vml), exist_ok=True)
                r = subprocess.run([os.path.join(root, "tools", "extract-vmlinux"), img, vml],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    out[key] = (None, (r.stderr.strip().splitlines() or ["extract-vmlinux failed"])[-1])
                    continue
            out[key] = (vml, None)
    return out, initrd


def internal_error(r):
    """'KVM internal error ...' with the instruction KVM could not emulate and
    the last console line, or None. (KVM_INTERNAL_ERROR_EMULATION: extra data
    [0] flags, [1..2] insn_size then the instruction bytes, little-endian.)"""
    if not r.fatal:
        return None
    data = [ln.split(":", 1)[1].strip() for ln in r.err if ln.startswith("extra data[")]
    insn = ""
    try:
        raw = b"".join(int(d, 16).to_bytes(8, "little") for d in data[1:3])
        if raw and 0 < raw[0] <= 15:
            insn = " at an instruction starting " + " ".join(f"{b:02x}" for b in raw[1:1 + min(raw[0], 4)])
    except ValueError:
        pass
    guest = [ln for ln in r.lines if any(ch.isalnum() for ch in ln)]
    last = guest[-1] if guest else "(no console output)"
    return (f"{r.fatal}{insn} after {r.elapsed:.0f} s; QEMU pauses the VM there "
            f"(last console line: {last[:90]})")


def argv(cfg, opts, key, image, initrd, cpus, timeout):
    append = "console=ttyS0 panic=-1"
    if PVM:
        append += PVM_APPEND + (PVM_STOCK_APPEND if key == "debian" else "")
    if cfg.kind == "hyve":
        return [opts.hyve, f"--timeout={int(timeout)}", "--cpus", str(cpus), "--memory", "512M"] + cfg.extra + [
            "--initrd", initrd, "--append", append, image]
    return ["qemu-system-x86_64"] + opts.firmware + [
        "-accel", "kvm", "-smp", str(cpus), "-m", "512", "-nographic", "-no-reboot", "-net", "none"] + cfg.extra + [
        "-kernel", image, "-initrd", initrd, "-append", append]


def bench_linux(opts, figs, configs, rep, run_guest, describe_failure):
    """One repetition: every kernel x vCPU count x configuration."""
    if not getattr(opts, "linux_images", None):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        opts.linux_images, opts.linux_initrd = prepare(opts, root)
    for key, _ in KERNELS:
        if key not in opts.linux_kernels:
            continue
        image, err = opts.linux_images[key]
        for cpus in opts.linux_cpus:
            f_init, f_off = ("linux", key, cpus, "init"), ("linux", key, cpus, "poweroff")
            for cfg in configs:
                if err:
                    figs.fail(f_init, cfg, err)
                    figs.fail(f_off, cfg, err)
                    continue
                if figs.failed(f_init, cfg):
                    continue
                timeout = opts.linux_timeout
                r = run_guest(argv(cfg, opts, key, image, opts.linux_initrd, cpus, timeout), timeout + 5,
                              silent_limit=opts.linux_silence, fatal="KVM internal error")
                figs.note_run(cfg, r)
                if opts.verbose:
                    print(f"    {cfg.label:32} linux {key} cpus={cpus}: status {r.status}, {r.elapsed:.1f} s",
                          flush=True)
                t_init = next((t for t, ln in zip(r.times, r.lines) if RUN_INIT in ln), None)
                if t_init is None:
                    why = internal_error(r) or describe_failure(r)
                    figs.fail(f_init, cfg, why)
                    figs.fail(f_off, cfg, why)
                    continue
                figs.add(f_init, cfg, t_init)
                if r.status == 0 and not r.timed_out:
                    figs.add(f_off, cfg, r.elapsed)
                elif PVM:
                    figs.fail(f_off, cfg, "not available: KVM-PVM host, no user space: /init dies at its first "
                              f"syscall (status {r.status} after the init panic, {r.elapsed:.0f} s)")
                else:
                    figs.fail(f_off, cfg, describe_failure(r))
