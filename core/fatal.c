#include "fatal.h"

#include <stdio.h>
#include <stdlib.h>

void shark__fatal(const char *file, int line, const char *msg)
{
    fprintf(stderr, "shark: fatal: %s (%s:%d)\n", msg, file, line);
    abort();
}
