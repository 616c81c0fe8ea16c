/* smp_tramp.S: AP start-up trampoline (copied below 1 MiB) and its 32-bit tail.
 *
 * smp_tramp_start..smp_tramp_end is position-independent real-mode code: the
 * BSP copies it to page P = vector << 12 and patches the two slots at its end.
 * A STARTUP(vector) starts the AP at CS.selector = vector << 8, CS.base = P,
 * IP = 0 (SDM 8.4.4 and 10.6.1). It loads the guest's GDT through a GDTR image
 * in the page (its base is the absolute address of crt0's gdt), sets CR0.PE,
 * and far-jumps with a 32-bit offset straight into smp_ap_pm32 in the kernel
 * image. ESI carries P so the 32-bit code can read the slots.
 * smp_ap_pm32 takes a 1 KiB stack from smp_stack_next (LOCK XADD) and calls
 * smp_ap_main(fn, table); if stacks run out, the AP parks at once. */

#define SMP_MAX_STACKS	1024
#define SMP_STACK_SHIFT	10		/* 1 KiB per AP */

	.text
	.code16
	.globl smp_tramp_start, smp_tramp_end, smp_tramp_fn, smp_tramp_table
smp_tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	movzwl %ax, %esi
	shll $4, %esi			/* esi = P, the page's linear address */
	lgdtl (smp_tramp_gdtr - smp_tramp_start)
	movl %cr0, %eax
	orl $1, %eax			/* PE */
	movl %eax, %cr0
	ljmpl $0x08, $smp_ap_pm32
	.balign 4
	.word 0
smp_tramp_gdtr:
	.word 3 * 8 - 1			/* crt0's gdt: null, code 0x08, data 0x10 */
	.long gdt
smp_tramp_fn:
	.long 0				/* smp_ap_fn, patched by smp_install() */
smp_tramp_table:
	.long 0				/* table index, patched by smp_install() */
smp_tramp_end:

	.code32
smp_ap_pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $1, %eax
	lock xaddl %eax, smp_stack_next
	cmpl $SMP_MAX_STACKS, %eax
	jae 9f
	incl %eax
	shll $SMP_STACK_SHIFT, %eax
	addl $smp_stacks, %eax
	movl %eax, %esp
	xorl %ebp, %ebp
	pushl (smp_tramp_table - smp_tramp_start)(%esi)
	pushl (smp_tramp_fn - smp_tramp_start)(%esi)
	call smp_ap_main
9:	cli
	hlt
	jmp 9b

	.bss
	.balign 16
	.globl smp_stacks, smp_stack_next
smp_stacks:
	.skip SMP_MAX_STACKS << SMP_STACK_SHIFT
	.balign 4
smp_stack_next:
	.skip 4

	.section .note.GNU-stack, "", @progbits
