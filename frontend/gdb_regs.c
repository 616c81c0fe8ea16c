/* gdb_regs.c: GDB's x86 register sets and their target description (frontend/gdb_regs.h). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "frontend/gdb_regs.h"

/* SDM encoding order of struct gdb_regs.gpr. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

#define R(n, b, t, field, f) {n, b, t, offsetof(struct gdb_regs, field), f}
#define CORE "core"
#define SSE "sse"
#define SEGS "segments"

/* The registers both sets share, in the same places relative to each other:
 * the selectors (after eflags), the x87 state and xmm0-7 (after the selectors). */
#define SEGMENT_REGS                                                                            \
	R("cs", 32, "int32", seg[0], CORE), R("ss", 32, "int32", seg[1], CORE),                 \
	R("ds", 32, "int32", seg[2], CORE), R("es", 32, "int32", seg[3], CORE),                 \
	R("fs", 32, "int32", seg[4], CORE), R("gs", 32, "int32", seg[5], CORE)
#define ST(i) R("st" #i, 80, "i387_ext", st[i], CORE)
#define XMM(i) R("xmm" #i, 128, "vec128", xmm[i], SSE)
#define X87_XMM0_7                                                                              \
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7), R("fctrl", 32, "int", fctrl, CORE), \
	R("fstat", 32, "int", fstat, CORE), R("ftag", 32, "int", ftag, CORE),                    \
	R("fiseg", 32, "int", fiseg, CORE), R("fioff", 32, "int", fioff, CORE),                  \
	R("foseg", 32, "int", foseg, CORE), R("fooff", 32, "int", fooff, CORE),                  \
	R("fop", 32, "int", fop, CORE), XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7)

/* G.5.1 "i386 Features", amd64: 64bit-core.xml, 64bit-sse.xml, 64bit-segments.xml. */
static const struct gdb_reg_desc amd64_regs[] = {
	R("rax", 64, "int64", gpr[RAX], CORE), R("rbx", 64, "int64", gpr[RBX], CORE),
	R("rcx", 64, "int64", gpr[RCX], CORE), R("rdx", 64, "int64", gpr[RDX], CORE),
	R("rsi", 64, "int64", gpr[RSI], CORE), R("rdi", 64, "int64", gpr[RDI], CORE),
	R("rbp", 64, "data_ptr", gpr[RBP], CORE), R("rsp", 64, "data_ptr", gpr[RSP], CORE),
	R("r8", 64, "int64", gpr[8], CORE), R("r9", 64, "int64", gpr[9], CORE),
	R("r10", 64, "int64", gpr[10], CORE), R("r11", 64, "int64", gpr[11], CORE),
	R("r12", 64, "int64", gpr[12], CORE), R("r13", 64, "int64", gpr[13], CORE),
	R("r14", 64, "int64", gpr[14], CORE), R("r15", 64, "int64", gpr[15], CORE),
	R("rip", 64, "code_ptr", rip, CORE), R("eflags", 32, "i386_eflags", eflags, CORE),
	SEGMENT_REGS,
	X87_XMM0_7,
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	R("mxcsr", 32, "i386_mxcsr", mxcsr, SSE),
	R("fs_base", 64, "int", fs_base, SEGS), R("gs_base", 64, "int", gs_base, SEGS),
};

/* i386: 32bit-core.xml, 32bit-sse.xml (the low halves of the same fields). */
static const struct gdb_reg_desc i386_regs[] = {
	R("eax", 32, "int32", gpr[RAX], CORE), R("ecx", 32, "int32", gpr[RCX], CORE),
	R("edx", 32, "int32", gpr[RDX], CORE), R("ebx", 32, "int32", gpr[RBX], CORE),
	R("esp", 32, "data_ptr", gpr[RSP], CORE), R("ebp", 32, "data_ptr", gpr[RBP], CORE),
	R("esi", 32, "int32", gpr[RSI], CORE), R("edi", 32, "int32", gpr[RDI], CORE),
	R("eip", 32, "code_ptr", rip, CORE), R("eflags", 32, "i386_eflags", eflags, CORE),
	SEGMENT_REGS,
	X87_XMM0_7,
	R("mxcsr", 32, "i386_mxcsr", mxcsr, SSE),
};
#undef R
#undef ST
#undef XMM

const struct gdb_reg_desc *gdb_reg_table(bool x86_64, unsigned *n)
{
	*n = x86_64 ? sizeof(amd64_regs) / sizeof(amd64_regs[0]) : sizeof(i386_regs) / sizeof(i386_regs[0]);
	return x86_64 ? amd64_regs : i386_regs;
}

/* The types the i386 features use beyond GDB's predefined ones (G.4: i387_ext
 * is predefined; the flags and the vector union are defined as GDB's own
 * 32bit-core.xml / 32bit-sse.xml define them). */
static const char core_types[] =
	"<flags id=\"i386_eflags\" size=\"4\"><field name=\"CF\" start=\"0\" end=\"0\"/>"
	"<field name=\"\" start=\"1\" end=\"1\"/><field name=\"PF\" start=\"2\" end=\"2\"/>"
	"<field name=\"AF\" start=\"4\" end=\"4\"/><field name=\"ZF\" start=\"6\" end=\"6\"/>"
	"<field name=\"SF\" start=\"7\" end=\"7\"/><field name=\"TF\" start=\"8\" end=\"8\"/>"
	"<field name=\"IF\" start=\"9\" end=\"9\"/><field name=\"DF\" start=\"10\" end=\"10\"/>"
	"<field name=\"OF\" start=\"11\" end=\"11\"/><field name=\"NT\" start=\"14\" end=\"14\"/>"
	"<field name=\"RF\" start=\"16\" end=\"16\"/><field name=\"VM\" start=\"17\" end=\"17\"/>"
	"<field name=\"AC\" start=\"18\" end=\"18\"/><field name=\"VIF\" start=\"19\" end=\"19\"/>"
	"<field name=\"VIP\" start=\"20\" end=\"20\"/><field name=\"ID\" start=\"21\" end=\"21\"/></flags>";
static const char sse_types[] =
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
	"<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
	"<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
	"<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
	"<field name=\"uint128\" type=\"uint128\"/></union>"
	"<flags id=\"i386_mxcsr\" size=\"4\"><field name=\"IE\" start=\"0\" end=\"0\"/>"
	"<field name=\"DE\" start=\"1\" end=\"1\"/><field name=\"ZE\" start=\"2\" end=\"2\"/>"
	"<field name=\"OE\" start=\"3\" end=\"3\"/><field name=\"UE\" start=\"4\" end=\"4\"/>"
	"<field name=\"PE\" start=\"5\" end=\"5\"/><field name=\"DAZ\" start=\"6\" end=\"6\"/>"
	"<field name=\"IM\" start=\"7\" end=\"7\"/><field name=\"DM\" start=\"8\" end=\"8\"/>"
	"<field name=\"ZM\" start=\"9\" end=\"9\"/><field name=\"OM\" start=\"10\" end=\"10\"/>"
	"<field name=\"UM\" start=\"11\" end=\"11\"/><field name=\"PM\" start=\"12\" end=\"12\"/>"
	"<field name=\"FZ\" start=\"15\" end=\"15\"/></flags>";

/* The target description (G.2 format, G.5.1): the features by name, their
 * registers in g-packet order, the types they use. */
size_t gdb_target_xml(bool x86_64, char *buf, size_t len)
{
	unsigned n;
	const struct gdb_reg_desc *r = gdb_reg_table(x86_64, &n);
	static const char *const features[] = {CORE, SSE, SEGS};
	size_t k = (size_t)snprintf(buf, len,
				    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
				    "<target version=\"1.0\"><architecture>%s</architecture>",
				    x86_64 ? "i386:x86-64" : "i386");
	unsigned regnum = 0;
	for (unsigned f = 0; f < 3; f++) {
		bool open = false;
		for (unsigned i = 0; i < n && k < len; i++) {
			if (strcmp(r[i].feature, features[f]))
				continue;
			if (!open)
				k += (size_t)snprintf(buf + k, len - k, "<feature name=\"org.gnu.gdb.i386.%s\">%s", features[f],
						      f == 0 ? core_types : f == 1 ? sse_types : "");
			open = true;
			k += (size_t)snprintf(buf + k, len - k, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"/>",
					      r[i].name, r[i].bits, r[i].type, regnum++);
		}
		if (open && k < len)
			k += (size_t)snprintf(buf + k, len - k, "</feature>");
	}
	if (k < len)
		k += (size_t)snprintf(buf + k, len - k, "</target>");
	return k < len ? k : len;
}

