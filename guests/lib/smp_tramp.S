/* smp_tramp.S: AP start-up trampoline (copied below 1 MiB) and its 32-bit tail.
 *
 * smp_tramp_start..smp_tramp_end is position-independent real-mode code: the
 * BSP copies it to page P = vector << 12 and patches the two slots at its end.
 * A STARTUP(vector) starts the AP at CS.selector = vector << 8, CS.base = P,
 * IP = 0 (SDM 8.4.4 and 10.6.1). It loads the guest's GDT through a GDTR image
 * in the page (its base is the absolute address of crt0's gdt), sets CR0.PE,
 * and far-jumps with a 32-bit offset straight into smp_ap_pm32 in the kernel
 * image. ESI carries P so the 32-bit code can read the slots.
 * smp_ap_pm32 takes the 1 KiB stack of its initial APIC ID (CPUID leaf 0BH
 * EDX, the x2APIC ID; CPUID.1:EBX[31:24] where leaf 0BH is absent: SDM Vol.
 * 3A 8.4.5, 10.12.8) and calls smp_ap_main(fn, table); an AP whose ID has no
 * stack parks at once. One stack per AP, not one per start-up: an AP that
 * starts again after INIT (its old life is gone) reuses its own, so tests
 * that start every AP twice or more work up to SMP_MAX_STACKS APs (a counter
 * of start-ups ran out at 512 APs started twice). The initial ID, not the
 * APIC ID register, which the guest may have rewritten (SDM 10.4.6). */

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
	xorl %eax, %eax
	cpuid				/* EAX = highest basic leaf */
	cmpl $0xb, %eax
	jb 1f
	movl $0xb, %eax
	xorl %ecx, %ecx
	cpuid				/* leaf 0BH, subleaf 0: EDX = x2APIC ID */
	testl %ebx, %ebx		/* EBX = 0: leaf 0BH not implemented */
	jz 1f
	movl %edx, %eax
	jmp 2f
1:	movl $1, %eax
	cpuid
	movl %ebx, %eax
	shrl $24, %eax			/* CPUID.1:EBX[31:24]: initial APIC ID */
2:	cmpl $SMP_MAX_STACKS, %eax
	jae 9f
	incl %eax			/* stacks grow down: the top of slot id */
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
	.globl smp_stacks
smp_stacks:
	.skip SMP_MAX_STACKS << SMP_STACK_SHIFT

	.section .note.GNU-stack, "", @progbits
