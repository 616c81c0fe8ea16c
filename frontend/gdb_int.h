/* gdb_int.h: what the GDB stub's files share (frontend/gdb.c: the session,
 * gdb_wire.c: packets and hex, gdb_cmd.c: the commands and stop replies).
 * Private to the stub; frontend/gdb.h is its interface. */
#ifndef FRONTEND_GDB_INT_H
#define FRONTEND_GDB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/gdb.h"

#define GDB_MAX_THREADS 1024

/* gdb_wire.c */
int gdb_get_byte(struct gdb_stub *s);
int gdb_hexval(int c);
bool gdb_put_packet(struct gdb_stub *s, const char *payload, size_t n);
bool gdb_reply(struct gdb_stub *s, const char *str);
int gdb_get_packet(struct gdb_stub *s);
char *gdb_put_hex(char *p, const uint8_t *b, size_t n);
bool gdb_get_hex(const char *p, uint8_t *b, size_t n);
bool gdb_parse_num(const char *p, uint64_t *v, const char **end);
bool gdb_parse_thread(const char *p, int64_t *vcpu, const char **end);
unsigned gdb_list_threads(struct gdb_stub *s, uint32_t *ids);
bool gdb_thread_exists(struct gdb_stub *s, uint32_t vcpu);

/* gdb_cmd.c */
bool gdb_send_stop(struct gdb_stub *s, const struct gdb_stop *st);
bool gdb_wait_stop(struct gdb_stub *s, struct gdb_stop *st);
void gdb_cmd_read_regs(struct gdb_stub *s);
void gdb_cmd_write_regs(struct gdb_stub *s, const char *hex);
void gdb_cmd_one_reg(struct gdb_stub *s, const char *arg, bool write);
void gdb_cmd_read_mem(struct gdb_stub *s, const char *arg);
void gdb_cmd_write_mem(struct gdb_stub *s, const char *arg, size_t arglen, bool binary);
void gdb_cmd_breakpoint(struct gdb_stub *s, const char *arg, bool insert);
/* Resumes (c, s, vCont) and sends the stop reply; false when the session ends. */
bool gdb_resume(struct gdb_stub *s, enum gdb_action def, int64_t only, enum gdb_action only_act, const char *vcont,
		struct gdb_stop *st);
void gdb_cmd_query(struct gdb_stub *s, const char *q);

#endif
