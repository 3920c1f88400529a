/* fatal: impossible states and out-of-memory abort with file and line. */
#ifndef SHARK_CORE_FATAL_H
#define SHARK_CORE_FATAL_H

#define shark_fatal(msg) shark__fatal(__FILE__, __LINE__, (msg))
__attribute__((noreturn)) void shark__fatal(const char *file, int line, const char *msg);

#endif
