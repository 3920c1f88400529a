#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fatal.h"

struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *data;
};

struct arena {
    struct block *head; /* current block; the first block is last in the list */
    struct block *first;
    struct cleanup *cleanups;
    size_t used;
};

static struct block *block_new(size_t cap)
{
    struct block *b = malloc(sizeof(*b) + cap);
    if (b == NULL)
        shark_fatal("out of memory");
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

arena *arena_new(size_t first_block)
{
    arena *a = calloc(1, sizeof(*a));
    if (a == NULL)
        shark_fatal("out of memory");
    a->first = a->head = block_new(first_block ? first_block : 4096);
    return a;
}

static void run_cleanups(arena *a)
{
    while (a->cleanups != NULL) {
        struct cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
    }
}

void arena_reset(arena *a)
{
    run_cleanups(a);
    while (a->head != a->first) {
        struct block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->first->used = 0;
    a->used = 0;
}

void arena_free(arena *a)
{
    if (a == NULL)
        return;
    arena_reset(a);
    free(a->first);
    free(a);
}

void *arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        shark_fatal("arena allocation too large"); /* rounding up would wrap */
    size_t need = (n + 15) & ~(size_t)15;
    struct block *b = a->head;
    if (b->cap - b->used < need) {
        size_t cap = a->first->cap * 2;
        if (cap < need)
            cap = need;
        b = block_new(cap);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += n;
    return p;
}

void *arena_calloc(arena *a, size_t n)
{
    return memset(arena_alloc(a, n), 0, n);
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    n = strnlen(s, n); /* like strndup: never read past the string's end */
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        shark_fatal("bad format");
    char *s = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void arena_cleanup(arena *a, void (*fn)(void *), void *data)
{
    struct cleanup *c = arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t arena_used(const arena *a)
{
    return a->used;
}
