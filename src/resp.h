/* resp.h — the RESP2 encoding of one Redis command: an array of bulk
 * strings, "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" for each argument
 * (redis.io, "Redis serialization protocol specification": "Sending
 * commands to a Redis server"). Pure: no allocation, no I/O.
 *
 * Why not hiredis' redisFormatCommandArgv: it mallocs the command and
 * formats every length with sprintf; measured on a node making remote
 * Sends (callgrind), that was a third of the owner's instructions and a
 * tenth of the caller's. This writes into the link's own buffer.
 */
#ifndef WSGW_RESP_H
#define WSGW_RESP_H

#include <stddef.h>
#include <stdint.h>

/* Bytes resp_cmd_encode writes for these arguments. argc >= 0. */
size_t resp_cmd_size(int argc, const size_t *lens);

/* Writes the command (argv[i] binary-safe, lens[i] bytes) at out, which
 * must hold resp_cmd_size(argc, lens) bytes. Returns the bytes written. */
size_t resp_cmd_encode(uint8_t *out, int argc, const char *const *argv, const size_t *lens);

#endif
