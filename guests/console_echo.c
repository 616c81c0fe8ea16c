/* console_echo.c: a tiny interactive line shell on COM1 whose input arrives
 * only through the UART's received-data interrupt (issue 5, item 4).
 *
 * Receive path: IER.ERBFI (16550D 8.3, IER bit 0) with MCR.OUT2 (the PC's
 * interrupt gate), ISA IRQ 4 on I/O APIC pin 4 (edge, active high, to the
 * BSP; 82093AA redirection table). The handler drains RBR while LSR.DR is
 * set (16550D 8.4) into a ring and sends the EOI; the main loop never reads
 * LSR for input: it waits with STI;HLT (SDM Vol. 2B, STI: the interrupt
 * shadow makes "check with IF=0, then sti; hlt" race-free) and edits the
 * line from the ring. Output still uses the runtime's printf (one LSR.THRE
 * poll per 16-byte burst).
 *
 * Flow control, so that no byte is lost however fast input comes: when the
 * ring is full the handler clears IER (the bytes stay in the UART's FIFO and
 * hyve's console stops reading stdin); the main loop sets IER.ERBFI again
 * once half the ring is free, which raises the line again (a new edge) if
 * the FIFO still holds data.
 *
 * Line editing: printable bytes are echoed, Backspace (0x7f or 0x08) erases
 * one ("\b \b"), Ctrl-C drops the line, Enter (CR, LF, or CR LF as one) runs
 * the line. Commands:
 *   echo TEXT  prints TEXT
 *   count      "count: typed=T received=R irqs=I stalls=S": T bytes through
 *              the line editor up to this Enter, R bytes the handler took from
 *              RBR, I RX interrupts, S times the ring was full
 *   cpus       "cpus: N online of C configured" (the APs are started at boot
 *              with the runtime's smp helpers; C from fw_cfg)
 *   poweroff   ACPI S5: PM1a_CNT (0x604) = SLP_EN | SLP_TYP 0. SLP_TYP is
 *              what \_S5 of hyve's DSDT says (loaders/acpi.c: 0, as QEMU's);
 *              hyve powers off only for that type (devices/sysctl.h)
 *   reboot     Reset Control Register 0xcf9 = SYS_RST | RST_CPU (hyve: status 4)
 *   exit N     writes N to the debug-exit port 0xf4 (status (N << 1) | 1)
 *   sleep MS   busy-waits MS milliseconds (at most 10 s) with interrupts on:
 *              input piles up in the ring meanwhile, so a test can make the
 *              flow control happen on any host
 *   help       lists the commands
 * anything else prints "error: unknown command 'WORD'". */
#include "irq.h"

#define VEC_UART 0x61
#define PIN_UART 4 /* ISA IRQ 4 = COM1, identity-mapped on I/O APIC pins 1-15 */

/* 16550A registers and bits (16550D table 2, sections 8.3-8.6) */
#define UART_RBR 0
#define UART_IER 1
#define UART_MCR 4
#define UART_LSR 5
#define UART_IER_ERBFI 0x01
#define UART_MCR_DTR_RTS_OUT2 0x0b
#define UART_LSR_DR 0x01

#define PM1A_CNT_PORT 0x604
#define PM1_CNT_SLP_EN 0x2000 /* bit 13; SLP_TYP (bits 12:10) = 0, hyve's \_S5 */
#define RCR_PORT 0xcf9
#define RCR_SYS_RST_RST_CPU 0x06

#define RING_SIZE 512 /* power of two */
#define LINE_MAX 4096
#define ECHO_MAX 256
#define SLEEP_MAX_MS 10000

/* Written by the handler (producer), read by the main loop (consumer). */
static volatile uint8_t ring[RING_SIZE];
static volatile uint32_t ring_head; /* handler: next slot to fill */
static volatile uint32_t ring_tail; /* main loop: next slot to read */
static volatile uint32_t rx_irqs, rx_bytes, rx_stalls, rx_paused;

static void on_uart_rx(struct isr_frame *f)
{
	rx_irqs++;
	for (;;) {
		if (ring_head - ring_tail == RING_SIZE) {
			/* Full: leave the rest in the FIFO, no more RX interrupts
			 * until the main loop has room again. */
			outb(COM1_PORT + UART_IER, 0);
			rx_paused = 1;
			rx_stalls++;
			break;
		}
		if (!(inb(COM1_PORT + UART_LSR) & UART_LSR_DR))
			break;
		ring[ring_head % RING_SIZE] = inb(COM1_PORT + UART_RBR);
		barrier();
		ring_head++;
		rx_bytes++;
	}
	apic_eoi();
}

/* ---- output ------------------------------------------------------------------ */
static char echo_buf[ECHO_MAX];
static uint32_t echo_len;

static void echo_flush(void)
{
	if (echo_len)
		serial_write(echo_buf, echo_len);
	echo_len = 0;
}

static void echo_put(const char *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (echo_len == ECHO_MAX)
			echo_flush();
		echo_buf[echo_len++] = s[i];
	}
}

static void prompt(void) { serial_puts("hyve$ "); }

/* ---- commands -------------------------------------------------------------------- */
static uint32_t ncpus, typed;

static bool word_is(const char *s, uint32_t n, const char *w)
{
	uint32_t k = (uint32_t)strlen(w);
	return n == k && !strncmp(s, w, k);
}

static void stop_machine(const char *what)
{
	/* hyve ends the VM from the vCPU's exit; only an ignored request gets here. */
	delay_us(200000);
	printf("error: %s did not stop the machine\n", what);
}

static void run(char *line, uint32_t len)
{
	line[len] = 0;
	uint32_t i = 0;
	while (i < len && line[i] == ' ')
		i++;
	const char *cmd = line + i;
	while (i < len && line[i] != ' ')
		i++;
	uint32_t clen = (uint32_t)(line + i - cmd);
	if (i < len)
		i++; /* one space separates the command from its argument */
	const char *arg = line + i;

	if (clen == 0)
		return;
	if (word_is(cmd, clen, "echo")) {
		serial_write(arg, len - i);
		serial_puts("\n");
	} else if (word_is(cmd, clen, "count")) {
		printf("count: typed=%u received=%u irqs=%u stalls=%u\n", typed, rx_bytes, rx_irqs, rx_stalls);
	} else if (word_is(cmd, clen, "cpus")) {
		printf("cpus: %u online of %u configured\n", smp_tables[0].count + 1, ncpus);
	} else if (word_is(cmd, clen, "poweroff")) {
		serial_puts("powering off\n");
		outw(PM1A_CNT_PORT, PM1_CNT_SLP_EN);
		stop_machine("poweroff");
	} else if (word_is(cmd, clen, "reboot")) {
		serial_puts("rebooting\n");
		outb(RCR_PORT, RCR_SYS_RST_RST_CPU);
		stop_machine("reboot");
	} else if (word_is(cmd, clen, "exit")) {
		uint32_t v;
		if (parse_first_number(arg, &v) < 0) {
			serial_puts("error: exit needs a number\n");
			return;
		}
		printf("exit %u\n", v);
		outl(DEBUG_EXIT_PORT, v);
		stop_machine("exit");
	} else if (word_is(cmd, clen, "sleep")) {
		uint32_t ms;
		if (parse_first_number(arg, &ms) < 0 || ms > SLEEP_MAX_MS) {
			printf("error: sleep needs a number of ms up to %u\n", SLEEP_MAX_MS);
			return;
		}
		irq_delay_us(ms * 1000); /* IF=1: the RX handler keeps filling the ring */
	} else if (word_is(cmd, clen, "help")) {
		serial_puts("commands: echo TEXT, count, cpus, sleep MS, poweroff, reboot, exit N, help\n");
	} else {
		serial_puts("error: unknown command '");
		serial_write(cmd, clen);
		serial_puts("'\n");
	}
}

/* ---- line editor --------------------------------------------------------------------- */
static char line[LINE_MAX + 1];
static uint32_t line_len;
static bool line_long, after_cr;

static void enter(void)
{
	echo_put("\n", 1);
	echo_flush();
	if (line_long)
		printf("error: line longer than %u bytes dropped\n", LINE_MAX);
	else
		run(line, line_len);
	line_len = 0;
	line_long = false;
	prompt();
}

static void edit(uint8_t c)
{
	bool cr = after_cr;
	after_cr = false;
	typed++;
	switch (c) {
	case '\r':
		after_cr = true;
		enter();
		return;
	case '\n':
		if (!cr)
			enter();
		return;
	case 0x7f: /* DEL, what terminals send for Backspace */
	case '\b':
		if (line_len && !line_long) {
			line_len--;
			echo_put("\b \b", 3);
		}
		return;
	case 0x03: /* Ctrl-C */
		echo_put("^C\n", 3);
		echo_flush();
		line_len = 0;
		line_long = false;
		prompt();
		return;
	}
	if (c < 0x20)
		return; /* other control characters are ignored */
	if (line_len == LINE_MAX) {
		line_long = true;
		return;
	}
	line[line_len++] = (char)c;
	echo_put((const char *)&c, 1);
}

void kmain(uint32_t magic, uint32_t mbi)
{
	ncpus = irq_smp_start(mbi, SMP_XAPIC); /* IDT, BSP APIC, APs started and idle */
	idt_set_handler(VEC_UART, on_uart_rx);
	ioapic_rte_set(PIN_UART, IOAPIC_RTE_DEST(0) | VEC_UART); /* fixed, physical, edge, high */
	outb(COM1_PORT + UART_MCR, UART_MCR_DTR_RTS_OUT2);
	printf("console_echo: %u CPU(s); input by COM1 RX interrupts (I/O APIC pin %u, vector 0x%x); "
	       "type help\n",
	       ncpus, PIN_UART, VEC_UART);
	prompt();
	outb(COM1_PORT + UART_IER, UART_IER_ERBFI);

	for (;;) {
		cpu_cli();
		if (rx_paused && ring_head - ring_tail <= RING_SIZE / 2) {
			rx_paused = 0;
			outb(COM1_PORT + UART_IER, UART_IER_ERBFI);
		}
		while (ring_head == ring_tail)
			cpu_sti_hlt_cli();
		cpu_sti();
		uint32_t head = ring_head;
		barrier();
		while (ring_tail != head) {
			uint8_t c = ring[ring_tail % RING_SIZE];
			barrier();
			ring_tail++;
			edit(c);
		}
		echo_flush();
	}
}
