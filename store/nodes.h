/*
 * store/nodes: this process's heartbeat in shark_nodes (migration 0037). A
 * thread of its own, on its own connection, records every few seconds the
 * revocation features this version understands (so revocations keep
 * stamping tokens while a node that would miss a mark runs) and its clock's
 * offset from the database's, and hands the largest offset of any live node
 * to the revoked set (store_revoked_skew).
 */
#ifndef SHARK_STORE_NODES_H
#define SHARK_STORE_NODES_H

/* Bits of shark_nodes.features: client/user/grant marks, key marks. */
#define STORE_NODE_FEATURES 3

/* Starts the heartbeat. Once, before the loops start. */
void store_nodes_start(const char *conninfo);

#endif
