/* printf.c: console output (COM1 16550A) and the guests' small printf. */
#include "rt.h"

/* 16550A registers (offsets from COM1_PORT) */
#define UART_THR 0 /* DLAB=0, write */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1
#define UART_DLM 1 /* DLAB=1 */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_THRE 0x20
#define UART_FIFO_LEN 16
/* Bounded wait for THRE: a UART that never drains must not hang the guest. */
#define UART_THRE_SPINS 100000

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0x00);  /* no interrupts */
	outb(COM1_PORT + UART_LCR, 0x80);  /* DLAB */
	outb(COM1_PORT + UART_DLL, 0x01);  /* divisor 1: 115200 baud */
	outb(COM1_PORT + UART_DLM, 0x00);
	outb(COM1_PORT + UART_LCR, 0x03);  /* 8N1, DLAB off */
	outb(COM1_PORT + UART_FCR, 0xc7);  /* FIFO on, clear both, 14-byte trigger */
	outb(COM1_PORT + UART_MCR, 0x03);  /* DTR, RTS */
}

/* Sends up to 16 raw bytes: one LSR poll per burst (THRE with the FIFO on means
 * the FIFO is empty, 16550A datasheet), which halves the exits of a putc loop. */
static void uart_burst(const char *s, size_t n)
{
	for (uint32_t i = 0; i < UART_THRE_SPINS; i++) {
		if (inb(COM1_PORT + UART_LSR) & UART_LSR_THRE)
			break;
		cpu_pause();
	}
	for (size_t i = 0; i < n; i++)
		outb(COM1_PORT + UART_THR, (uint8_t)s[i]);
}

struct outbuf {
	char buf[UART_FIFO_LEN];
	size_t len;
	/* snprintf mode: */
	char *dst;
	size_t dst_size;
	size_t total;
};

static void ob_flush(struct outbuf *ob)
{
	if (ob->len && !ob->dst)
		uart_burst(ob->buf, ob->len);
	ob->len = 0;
}

static void ob_raw(struct outbuf *ob, char c)
{
	if (ob->dst) {
		if (ob->total + 1 < ob->dst_size)
			ob->dst[ob->total] = c;
		ob->total++;
		return;
	}
	ob->total++;
	ob->buf[ob->len++] = c;
	if (ob->len == UART_FIFO_LEN)
		ob_flush(ob);
}

static void ob_putc(struct outbuf *ob, char c)
{
	if (c == '\n' && !ob->dst)
		ob_raw(ob, '\r');
	ob_raw(ob, c);
}

void serial_write(const char *s, size_t n)
{
	struct outbuf ob = {.len = 0};

	for (size_t i = 0; i < n; i++)
		ob_putc(&ob, s[i]);
	ob_flush(&ob);
}

void serial_puts(const char *s) { serial_write(s, strlen(s)); }

static void ob_pad(struct outbuf *ob, char c, int n)
{
	while (n-- > 0)
		ob_putc(ob, c);
}

static void ob_number(struct outbuf *ob, uint64_t v, unsigned base, bool upper, bool neg, int width, bool zero,
		      bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;

	do {
		uint32_t rem;
		v = udiv64(v, base, &rem);
		tmp[n++] = digits[rem];
	} while (v);
	int len = n + (neg ? 1 : 0);
	if (!left && !zero)
		ob_pad(ob, ' ', width - len);
	if (neg)
		ob_putc(ob, '-');
	if (!left && zero)
		ob_pad(ob, '0', width - len);
	while (n)
		ob_putc(ob, tmp[--n]);
	if (left)
		ob_pad(ob, ' ', width - len);
}

static void ob_format(struct outbuf *ob, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			ob_putc(ob, *fmt);
			continue;
		}
		fmt++;
		bool zero = false, left = false;
		int width = 0, lng = 0;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng >= 2 ? va_arg(ap, long long) : va_arg(ap, int);
			bool neg = v < 0;
			ob_number(ob, neg ? (uint64_t)-v : (uint64_t)v, 10, false, neg, width, zero, left);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng >= 2 ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
			ob_number(ob, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, zero, left);
			break;
		}
		case 'p':
			ob_putc(ob, '0');
			ob_putc(ob, 'x');
			ob_number(ob, (uint32_t)va_arg(ap, void *), 16, false, false, 8, true, false);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			if (!left)
				ob_pad(ob, ' ', width - 1);
			ob_putc(ob, c);
			if (left)
				ob_pad(ob, ' ', width - 1);
			break;
		}
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = (int)strlen(s);
			if (!left)
				ob_pad(ob, ' ', width - len);
			while (*s)
				ob_putc(ob, *s++);
			if (left)
				ob_pad(ob, ' ', width - len);
			break;
		}
		case '%':
			ob_putc(ob, '%');
			break;
		case '\0':
			return;
		default:
			ob_putc(ob, '%');
			ob_putc(ob, *fmt);
			break;
		}
	}
}

int vprintf(const char *fmt, va_list ap)
{
	struct outbuf ob = {.len = 0};

	ob_format(&ob, fmt, ap);
	ob_flush(&ob);
	return (int)ob.total;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct outbuf ob = {.dst = buf, .dst_size = size};

	ob_format(&ob, fmt, ap);
	if (size)
		buf[ob.total < size ? ob.total : size - 1] = '\0';
	return (int)ob.total;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
