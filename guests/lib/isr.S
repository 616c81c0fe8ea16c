/* isr.S: interrupt/exception entry stubs shared by the BSP and the APs.
 * Each stub pushes a dummy error code (unless the CPU pushed one, SDM Vol. 3A
 * table 6-1) and its vector, then isr_common saves the GPRs and calls
 * isr_dispatch(struct isr_frame *). Stubs exist for vectors 0-31 (exceptions),
 * 0x40-0x47 (test IPIs) and 0xff (APIC spurious vector); see rt.h. */

	.text
	.code32

.macro ISR_NOERR vec
isr_stub_\vec:
	pushl $0
	pushl $\vec
	jmp isr_common
.endm

.macro ISR_ERR vec
isr_stub_\vec:
	pushl $\vec
	jmp isr_common
.endm

	.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31,64,65,66,67,68,69,70,71,255
	ISR_NOERR \v
	.endr
	.irp v, 8,10,11,12,13,14,17,21,29,30
	ISR_ERR \v
	.endr

isr_common:
	pushal
	cld
	pushl %esp
	call isr_dispatch
	addl $4, %esp
	/* Return WITHOUT IRET. On the KVM-PVM hosts hyve is developed on, guest
	 * CPL0 code runs in KVM's instruction emulator, which has no
	 * protected-mode IRET (KVM_EXIT_INTERNAL_ERROR, "emulation failure").
	 * Every handler interrupts code at CPL0 on the same flat stack, so IRET
	 * only has to pop EIP, CS (always 0x08) and EFLAGS: rearrange the frame
	 * to [junk][eflags][eip] and use POPF; RET. An interrupt that POPF lets
	 * in before the RET nests below ESP and is harmless.
	 * Cost: NMI blocking, which only IRET ends (SDM Vol. 3A 6.7.1), stays on
	 * after the first NMI: each CPU takes at most one NMI per run. */
	movl 40(%esp), %eax		/* frame: 32 vector, 36 error, 40 eip, 44 cs, 48 eflags */
	movl 48(%esp), %ecx
	movl %ecx, 44(%esp)
	movl %eax, 48(%esp)
	popal
	addl $12, %esp			/* vector, error code, old eip slot */
	popfl
	ret

/* {vector, stub} pairs read by idt_init(). */
	.section .rodata
	.balign 4
	.globl isr_stub_table, isr_stub_count
isr_stub_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,64,65,66,67,68,69,70,71,255
	.long \v, isr_stub_\v
	.endr
isr_stub_count:
	.long (isr_stub_count - isr_stub_table) / 8

	.section .note.GNU-stack, "", @progbits
