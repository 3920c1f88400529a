/*
 * file: a secret written to disk whole or not at all. file_write_secret
 * writes `text` to <path>.tmp (mode 0600, never through a symbolic link),
 * fsyncs it, gives it to uid/gid unless both are (uid_t)-1 / (gid_t)-1, and
 * renames it over path; a reader sees the old content or the new, never a
 * part. 0, or -1 with "cannot write <file>: <reason>" in err (size errlen)
 * and no temporary file left behind.
 */
#ifndef SHARK_CORE_FILE_H
#define SHARK_CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

int file_write_secret(const char *path, const char *text, uid_t uid, gid_t gid, char *err,
                      size_t errlen);

#endif
