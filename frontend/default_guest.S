/* default_guest.S: the built-in default guest (the SMP demo), embedded so that
 * `hyve` with no KERNEL runs from any folder. */
	.section .rodata
	.balign 16
	.globl default_guest_start
	.globl default_guest_end
default_guest_start:
	.incbin DEFAULT_GUEST_PATH
default_guest_end:
	.section .note.GNU-stack,"",@progbits
