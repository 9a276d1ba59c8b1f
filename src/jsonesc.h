/* jsonesc.h — bytes into the inside of a JSON string (RFC 8259 §7), for
 * log lines. Pure: no allocation, no I/O.
 */
#ifndef WSGW_JSONESC_H
#define WSGW_JSONESC_H

#include <stddef.h>

/* Writes in[0..n) escaped into out (at most cap - 1 bytes, then a NUL;
 * cap >= 1): '"' and '\\' escaped, control bytes and DEL as \n \r \t \b \f
 * or \u00XX, valid UTF-8 copied, each byte of invalid UTF-8 (overlong,
 * surrogate, above U+10FFFF, cut short) as \ufffd. Output that does not
 * fit is cut before a whole escape or character, never inside one.
 * Returns the bytes written, NUL excluded. */
size_t jsonesc_encode(const char *in, size_t n, char *out, size_t cap);

#endif
