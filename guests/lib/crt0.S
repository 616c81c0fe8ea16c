/* crt0.S: Multiboot v1 entry of hyve's test guests: header, flat GDT, BSP stack,
 * then rt_main(magic, mbi) -> kmain(magic, mbi).
 * Entry state (Multiboot 0.6.96 section 3.2, and QEMU -kernel): 32-bit protected
 * mode, paging off, EAX = 0x2BADB002, EBX = multiboot info; the GDT is NOT
 * guaranteed valid, so we load our own before touching a segment register. */

#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* bit 0: page-align modules, bit 1: memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	movl %eax, %edi			/* multiboot magic */
	movl %ebx, %esi			/* multiboot info */
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $bsp_stack_top, %esp
	xorl %ebp, %ebp
	pushl $0
	popfl				/* DF = 0, IF = 0, AC = 0 */
	pushl %esi
	pushl %edi
	call rt_main
2:	cli
	hlt
	jmp 2b

/* Flat GDT shared by the BSP and every AP (the AP trampoline loads it too).
 * 0x08: 32-bit code, base 0, limit 4 GiB; 0x10: 32-bit data, same. */
	.section .rodata
	.balign 8
	.globl gdt, gdt_end, gdt_desc
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
gdt_end:
	.balign 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.balign 16
bsp_stack:
	.skip 16384
bsp_stack_top:

	.section .note.GNU-stack, "", @progbits
