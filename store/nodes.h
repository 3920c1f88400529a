/*
 * store/nodes: this process's heartbeat in shark_nodes (migration 0037). A
 * thread of its own, on its own connection, records every few seconds the
 * revocation features this version understands (so revocations keep
 * stamping tokens while a node that would miss a mark runs) and its clock's
 * offset from the database's, and hands the largest offset of any live node
 * to the revoked set (store_revoked_skew). It also keeps the feature bits
 * every live node announces, for what this node may write (store/batch.c).
 */
#ifndef SHARK_STORE_NODES_H
#define SHARK_STORE_NODES_H

#include <stdbool.h>

/* Bits of shark_nodes.features: client/user/grant marks, key marks, and a
 * token's NULL subject read as its client_id (migration 0043). */
#define STORE_NODE_SUBJECT 4
#define STORE_NODE_FEATURES (3 | STORE_NODE_SUBJECT)

/* Starts the heartbeat. Once, before the loops start. */
void store_nodes_start(const char *conninfo);

/* Whether every live node announced all of `bits` at the last heartbeat;
 * false before the first and after a failed one. A relaxed load: callable
 * per token, from any thread. */
bool store_nodes_all(int bits);

#endif
