/* gdb_regs.h: the x86 register sets the GDB stub offers (frontend/gdb.h):
 * GDB's amd64 one (org.gnu.gdb.i386.core, .sse, .segments) and its i386 one
 * (core, sse), in g-packet order, and the target description (target.xml)
 * that names them (GDB manual G.5.1 "i386 Features"). */
#ifndef FRONTEND_GDB_REGS_H
#define FRONTEND_GDB_REGS_H

#include <stdbool.h>
#include <stddef.h>

#include "frontend/gdb.h"

/* One register as GDB numbers it: where it lives in struct gdb_regs. */
struct gdb_reg_desc {
	const char *name;
	unsigned bits;
	const char *type; /* target description type */
	size_t off;       /* offset in struct gdb_regs */
	const char *feature;
};

/* The registers in GDB's numbering (g-packet order); *n of them. */
const struct gdb_reg_desc *gdb_reg_table(bool x86_64, unsigned *n);
/* Writes target.xml into buf (len bytes); its length (truncated to len). */
size_t gdb_target_xml(bool x86_64, char *buf, size_t len);

#endif
