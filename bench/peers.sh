# bench/peers.sh: the peers bench/run compares shark with, sourced by bench/run.
#
# Each peer NAME has peer_NAME_start, which installs what it needs into
# $CACHE (built or unpacked once, outside the repo), starts the server on
# 127.0.0.1 and sets:
#   P_PID P_DBPID        server process and its database's postmaster (0: none)
#   P_PORT               the port the workloads use
#   P_TOKEN P_INTRO      token and introspection paths (P_INTRO_PORT if not P_PORT)
#   P_JWKS               JWKS path
#   P_BASIC P_SCOPE      client_secret_basic header and a scope to request
#   P_STORAGE            one line for the table: where the peer keeps its state
#   P_NOTES              how it was configured (for the table's footer)
# and peer_NAME_stop. Support for DPoP, token exchange and introspection is not
# assumed: peer_workloads checks each on every run and records "n/a, because …".
#
# Needs from bench/run: WORK, CACHE, PEER_PORT, FORM, lg, say, die, presign, getrps, R, ROWS.

PEER_PG_PORT=${BENCH_PEER_PG_PORT:-19500}
PEER_PG_PID=0

# A run as the postgres user when we are root (initdb refuses root).
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bindir() {
    local d; d=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$d/initdb" ] && { printf '%s' "$d"; return; }
    printf '%s' /usr/lib/postgresql/15/bin
}

# peer_pg_start: one PostgreSQL cluster for the peers that use one, with the
# settings shark gives its embedded cluster (store/embed.c: max_connections=200,
# shared_buffers=64MB, synchronous_commit and fsync at their defaults, on).
# TCP on 127.0.0.1 because Keycloak's JDBC driver needs it.
peer_pg_start() {
    [ "$PEER_PG_PID" != 0 ] && return 0
    local bin; bin=$(pg_bindir)
    mkdir -p "$WORK/peerpg" && chmod 0700 "$WORK/peerpg"
    [ "$(id -u)" -eq 0 ] && chown postgres "$WORK/peerpg"
    as_pg "$bin/initdb" -D "$WORK/peerpg/data" -U postgres --auth=trust -E UTF8 \
        >"$WORK/peerpg.initdb.log" 2>&1 || { tail "$WORK/peerpg.initdb.log" >&2; die "peer initdb failed"; }
    as_pg "$bin/pg_ctl" -D "$WORK/peerpg/data" -l "$WORK/peerpg/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$PEER_PG_PORT -c unix_socket_directories=$WORK/peerpg -c max_connections=200 -c shared_buffers=64MB" \
        start >/dev/null || { tail "$WORK/peerpg/log" >&2; die "peer PostgreSQL did not start"; }
    PEER_PG_PID=$(head -1 "$WORK/peerpg/data/postmaster.pid")
    local sc; sc=$(psql -h 127.0.0.1 -p "$PEER_PG_PORT" -U postgres -Atqc 'show synchronous_commit')
    [ "$sc" = on ] || die "peer PostgreSQL has synchronous_commit=$sc"
}

peer_pg_createdb() {
    psql -h 127.0.0.1 -p "$PEER_PG_PORT" -U postgres -qc "CREATE DATABASE $1" >/dev/null ||
        die "could not create database $1"
}

peer_pg_stop() {
    [ "$PEER_PG_PID" = 0 ] && return 0
    as_pg "$(pg_bindir)/pg_ctl" -D "$WORK/peerpg/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        kill -TERM "$PEER_PG_PID" 2>/dev/null || true
    PEER_PG_PID=0
}

# wait_http URL PID SECONDS: until URL answers 2xx, or die if PID exits.
wait_http() {
    local url=$1 pid=$2 secs=$3 i
    for i in $(seq 1 $((secs * 10))); do
        curl -sf -m 2 -o /dev/null "$url" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

stop_pid() { # pid [seconds]
    local pid=$1 secs=${2:-15} i
    [ -n "$pid" ] && [ "$pid" != 0 ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 $((secs * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# ------------------------------------------------------- node-oidc-provider
peer_oidc_provider_start() {
    if [ ! -d "$BENCH_DIR/node_modules/oidc-provider" ]; then
        (cd "$BENCH_DIR" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) ||
            { tail -20 "$WORK/npm.log" >&2; die "npm ci failed"; }
    fi
    (cd "$BENCH_DIR" && PORT=$PEER_PORT exec node oidc-provider-peer.mjs) >"$WORK/oidc-provider.log" 2>&1 &
    P_PID=$! P_DBPID=0 P_PORT=$PEER_PORT P_INTRO_PORT=$PEER_PORT
    wait_http "http://127.0.0.1:$P_PORT/jwks" "$P_PID" 30 ||
        { cat "$WORK/oidc-provider.log" >&2; die "oidc-provider not ready"; }
    P_TOKEN=/token P_INTRO=/token/introspection P_JWKS=/jwks P_SCOPE=read
    P_BASIC="Authorization: Basic $(printf 'bench:benchsecret' | base64 -w0)"
    P_STORAGE="in-memory adapter (nothing written to disk; favours the peer)"
    P_NOTES="node-oidc-provider 9.13.3: ES256 JWT access tokens via resource indicators, DPoP on"
}
peer_oidc_provider_stop() { stop_pid "$P_PID"; }

# ---------------------------------------------------------------- Ory Hydra
HYDRA_VERSION=v2.3.0
# Built from the Go module proxy's copy of the module, inside its own module
# (its go.mod has replace directives, so `go install …@version` refuses it).
# One of them points at a nested module the proxy's zip leaves out; the
# published hydra-client-go of the version go.mod requires stands in for it.
hydra_install() {
    local bin=$CACHE/hydra-$HYDRA_VERSION/hydra
    if [ ! -x "$bin" ]; then
        command -v go >/dev/null || die "needs go for Hydra"
        say "== building Ory Hydra $HYDRA_VERSION into $CACHE (once; several minutes)"
        local dir src
        dir=$(cd "$CACHE" && timeout 900 go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') || die "go mod download of Hydra failed"
        src=$CACHE/hydra-$HYDRA_VERSION/src
        rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
        (cd "$src" && go mod edit -dropreplace github.com/ory/hydra-client-go/v2 &&
            GOFLAGS=-mod=mod timeout 1800 go build -trimpath -o "$bin.tmp" .) >"$WORK/hydra-build.log" 2>&1 ||
            { tail -20 "$WORK/hydra-build.log" >&2; die "Hydra build failed"; }
        mv "$bin.tmp" "$bin"
    fi
    HYDRA=$bin
}

peer_hydra_start() {
    hydra_install
    peer_pg_start
    peer_pg_createdb hydra
    local admin=$((PEER_PORT + 1))
    # Client secrets are 32 random bytes: one PBKDF2 iteration costs an attacker
    # as much as shark's single SHA-256; Hydra's 25,000 default is for passwords.
    cat >"$WORK/hydra.yml" <<EOF
dsn: postgres://postgres@127.0.0.1:$PEER_PG_PORT/hydra?sslmode=disable&max_conns=64&max_idle_conns=64
serve:
  public: { host: 127.0.0.1, port: $PEER_PORT }
  admin: { host: 127.0.0.1, port: $admin }
urls:
  self: { issuer: http://127.0.0.1:$PEER_PORT }
secrets:
  system: [bench-system-secret-0123456789abcdef]
strategies:
  access_token: jwt
oauth2:
  hashers:
    algorithm: pbkdf2
    pbkdf2: { iterations: 1 }
log:
  level: error
EOF
    timeout 120 "$HYDRA" migrate sql up -e --yes --config "$WORK/hydra.yml" >"$WORK/hydra-migrate.log" 2>&1 ||
        DSN=$(sed -n 's/^dsn: //p' "$WORK/hydra.yml") timeout 120 "$HYDRA" migrate sql -e --yes \
            >>"$WORK/hydra-migrate.log" 2>&1 || { tail "$WORK/hydra-migrate.log" >&2; die "Hydra migrations failed"; }
    "$HYDRA" serve all --dev --config "$WORK/hydra.yml" >"$WORK/hydra.log" 2>&1 &
    P_PID=$! P_DBPID=$PEER_PG_PID P_PORT=$PEER_PORT P_INTRO_PORT=$admin
    wait_http "http://127.0.0.1:$admin/health/ready" "$P_PID" 60 ||
        { tail -20 "$WORK/hydra.log" >&2; die "Hydra not ready"; }
    # ES256 for access tokens, as shark signs them.
    curl -sf -m 10 -o /dev/null -H 'Content-Type: application/json' -d '{"alg":"ES256","use":"sig"}' \
        "http://127.0.0.1:$admin/admin/keys/hydra.jwt.access-token" || die "Hydra ES256 key set failed"
    curl -sf -m 10 -o /dev/null -H 'Content-Type: application/json' \
        -d '{"client_id":"bench","client_secret":"benchsecret","grant_types":["client_credentials","urn:ietf:params:oauth:grant-type:token-exchange"],"scope":"bench:a bench:b","token_endpoint_auth_method":"client_secret_basic","access_token_strategy":"jwt"}' \
        "http://127.0.0.1:$admin/admin/clients" || die "Hydra client creation failed"
    P_TOKEN=/oauth2/token P_INTRO=/admin/oauth2/introspect P_JWKS=/.well-known/jwks.json P_SCOPE=bench:a
    P_BASIC="Authorization: Basic $(printf 'bench:benchsecret' | base64 -w0)"
    P_INTRO_AUTH=none
    P_STORAGE="PostgreSQL 15 (the peer cluster, synchronous_commit on)"
    P_NOTES="Ory Hydra $HYDRA_VERSION: JWT access tokens (ES256 key set), PBKDF2 with 1 iteration for client secrets, introspection on the admin port"
}
peer_hydra_stop() { stop_pid "$P_PID"; P_INTRO_AUTH=; }

# ----------------------------------------------------------------- Keycloak
KEYCLOAK_VERSION=26.5.6
keycloak_java() {
    local j
    for j in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64; do
        [ -x "$j/bin/java" ] && { printf '%s' "$j"; return; }
    done
    die "Keycloak needs Java 21 or newer under /usr/lib/jvm"
}

keycloak_install() {
    local home=$CACHE/keycloak-$KEYCLOAK_VERSION
    export JAVA_HOME; JAVA_HOME=$(keycloak_java)
    if [ ! -x "$home/bin/kc.sh" ]; then
        command -v mvn >/dev/null || die "needs mvn to fetch Keycloak from Maven Central"
        say "== fetching Keycloak $KEYCLOAK_VERSION into $CACHE (once)"
        timeout 900 mvn -q -B dependency:copy \
            "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" \
            "-DoutputDirectory=$CACHE/dl" >"$WORK/keycloak-fetch.log" 2>&1 ||
            { tail -20 "$WORK/keycloak-fetch.log" >&2; die "Keycloak download failed"; }
        tar -xzf "$CACHE/dl/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$CACHE" || die "unpacking Keycloak failed"
    fi
    # Build-time options (the optimized start needs them baked in): PostgreSQL,
    # local caches (one node), health endpoints, DPoP.
    local opts="--db=postgres --health-enabled=true --features=dpop"
    if [ "$(cat "$home/.bench-build" 2>/dev/null)" != "$opts" ]; then
        say "== kc.sh build $opts (once)"
        (cd "$home" && timeout 600 bin/kc.sh build $opts) >"$WORK/keycloak-build.log" 2>&1 ||
            { tail -20 "$WORK/keycloak-build.log" >&2; die "kc.sh build failed"; }
        printf '%s' "$opts" >"$home/.bench-build"
    fi
    KC_HOME=$home
}

peer_keycloak_start() {
    keycloak_install
    peer_pg_start
    peer_pg_createdb keycloak
    local mgmt=$((PEER_PORT + 2)) kb=http://127.0.0.1:$PEER_PORT
    (cd "$KC_HOME" && KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=bench-admin \
        exec bin/kc.sh start --optimized --http-enabled=true --http-host=127.0.0.1 \
        --http-port="$PEER_PORT" --http-management-port="$mgmt" --hostname-strict=false \
        --cache=local --db-url="jdbc:postgresql://127.0.0.1:$PEER_PG_PORT/keycloak" \
        --db-username=postgres --db-password=unused --db-pool-max-size=64 \
        --log-level=warn) >"$WORK/keycloak.log" 2>&1 &
    local sh=$!
    wait_http "http://127.0.0.1:$mgmt/health/ready" "$sh" 240 ||
        { tail -20 "$WORK/keycloak.log" >&2; die "Keycloak not ready after 240 s"; }
    # kc.sh runs java as its child: measure the JVM.
    P_PID=$(pgrep -P "$sh" java || echo "$sh") P_KC_SH=$sh
    P_DBPID=$PEER_PG_PID P_PORT=$PEER_PORT P_INTRO_PORT=$PEER_PORT
    local at h rid s
    at=$(curl -sf -m 20 -d grant_type=password -d client_id=admin-cli -d username=admin -d password=bench-admin \
        "$kb/realms/master/protocol/openid-connect/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
        die "Keycloak admin login failed"
    h="Authorization: Bearer $at"
    kc_post() { curl -sf -m 20 -o /dev/null -H "$h" -H 'Content-Type: application/json' -d "$2" "$kb/admin$1" || die "Keycloak POST $1 failed"; }
    kc_post /realms '{"realm":"bench","enabled":true,"defaultSignatureAlgorithm":"ES256","accessTokenLifespan":300}'
    rid=$(curl -sf -m 20 -H "$h" "$kb/admin/realms/bench" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    kc_post /realms/bench/components "{\"name\":\"es256\",\"providerId\":\"ecdsa-generated\",\"providerType\":\"org.keycloak.keys.KeyProvider\",\"parentId\":\"$rid\",\"config\":{\"priority\":[\"200\"],\"ecdsaEllipticCurveKey\":[\"P-256\"],\"active\":[\"true\"],\"enabled\":[\"true\"]}}"
    for s in bench:a bench:b; do
        kc_post /realms/bench/client-scopes "{\"name\":\"$s\",\"protocol\":\"openid-connect\",\"attributes\":{\"include.in.token.scope\":\"true\",\"display.on.consent.screen\":\"false\"}}"
    done
    # Lightweight access tokens for client credentials, as Keycloak's docs
    # recommend for throughput; standard token exchange (V2) on for the client.
    kc_post /realms/bench/clients '{"clientId":"bench","enabled":true,"publicClient":false,"secret":"benchsecret","clientAuthenticatorType":"client-secret","serviceAccountsEnabled":true,"standardFlowEnabled":false,"directAccessGrantsEnabled":false,"optionalClientScopes":["bench:a","bench:b"],"attributes":{"client.use.lightweight.access.token.enabled":"true","standard.token.exchange.enabled":"true"}}'
    P_TOKEN=/realms/bench/protocol/openid-connect/token
    P_INTRO=/realms/bench/protocol/openid-connect/token/introspect
    P_JWKS=/realms/bench/protocol/openid-connect/certs P_SCOPE=bench:a
    P_BASIC="Authorization: Basic $(printf 'bench:benchsecret' | base64 -w0)"
    P_STORAGE="PostgreSQL 15 (the peer cluster, synchronous_commit on); client-credentials tokens are not stored"
    P_NOTES="Keycloak $KEYCLOAK_VERSION (production mode, --cache=local, JDK $(basename "$JAVA_HOME")): ES256 realm key, lightweight access tokens, DPoP feature, standard token exchange"
    # The JIT needs traffic before it is at speed: an untimed 20 s of (a).
    say "-- keycloak: 20 s untimed JIT warm-up"
    "$LOADGEN" run --port "$P_PORT" --conns "$CONNS" --seconds 20 --warmup 0 --method POST --path "$P_TOKEN" \
        --header "$P_BASIC" --header "$FORM" --body "grant_type=client_credentials&scope=$P_SCOPE" >/dev/null 2>&1 || true
}
peer_keycloak_stop() { stop_pid "$P_KC_SH" 30; stop_pid "$P_PID" 5; }

# ------------------------------------------------------------ the workloads
# peer_workloads NAME: (a)-(e) against the started peer; each capability is
# checked with one real request first, and a row the peer cannot serve says why.
peer_workloads() {
    local name=$1 base=http://127.0.0.1:$P_PORT
    local cc="grant_type=client_credentials&scope=$P_SCOPE" out tok tt
    lg "a $name" "$P_PID" "$P_DBPID" --port "$P_PORT" --method POST --path "$P_TOKEN" \
        --header "$P_BASIC" --header "$FORM" --body "$cc"

    # (b) only if a proof gets a DPoP-bound token (token_type DPoP).
    tt=$(curl -s -m 10 -H "$P_BASIC" -H "DPoP: $(dpop_proof POST "$base$P_TOKEN")" -d "$cc" "$base$P_TOKEN" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("token_type") or d.get("error"))' 2>/dev/null || echo "no JSON")
    if [ "${tt,,}" = dpop ]; then
        lg "b $name" "$P_PID" "$P_DBPID" --port "$P_PORT" --method POST --path "$P_TOKEN" \
            --header "$P_BASIC" --header "$FORM" --body "$cc" --dpop "$base$P_TOKEN" \
            --presign "$(presign "$(getrps "a $name")")"
    else
        ROWS+=("b $name"); R["b $name.na"]="a DPoP proof gets token_type=$tt, not a DPoP-bound token"
    fi

    # Tokens for (c) and (d).
    "$LOADGEN" run --port "$P_PORT" --conns 8 --count 200 --save "$WORK/$name.tokens" --method POST \
        --path "$P_TOKEN" --header "$P_BASIC" --header "$FORM" --body "$cc" >/dev/null 2>&1 ||
        die "could not obtain $name tokens"
    tok=$(head -1 "$WORK/$name.tokens")

    out=$(curl -s -m 10 -H "$P_BASIC" -H "DPoP: $(dpop_proof POST "$base$P_TOKEN")" \
        --data-urlencode "subject_token=$tok" \
        -d 'grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type=urn:ietf:params:oauth:token-type:access_token' \
        "$base$P_TOKEN")
    if printf '%s' "$out" | grep -q '"access_token"'; then
        lg "c $name" "$P_PID" "$P_DBPID" --port "$P_PORT" --method POST --path "$P_TOKEN" \
            --header "$P_BASIC" --header "$FORM" --body "$TX" --tokens "$WORK/$name.tokens" \
            --dpop "$base$P_TOKEN" --presign "$(presign "$(getrps "a $name")")"
    else
        ROWS+=("c $name"); R["c $name.na"]="no RFC 8693 token exchange: $(printf '%s' "$out" | head -c 120)"
    fi

    local ib=http://127.0.0.1:$P_INTRO_PORT ih=()
    [ "${P_INTRO_AUTH:-}" = none ] || ih=(-H "$P_BASIC")
    out=$(curl -s -m 10 "${ih[@]}" --data-urlencode "token=$tok" "$ib$P_INTRO")
    if printf '%s' "$out" | grep -q '"active":true'; then
        local lh=(--header "$P_BASIC"); [ "${P_INTRO_AUTH:-}" = none ] && lh=()
        lg "d $name" "$P_PID" "$P_DBPID" --port "$P_INTRO_PORT" --method POST --path "$P_INTRO" \
            "${lh[@]}" --header "$FORM" --body 'token={TOKEN}' --tokens "$WORK/$name.tokens" \
            --expect-body '"active":true'
    else
        ROWS+=("d $name"); R["d $name.na"]="does not introspect its access tokens: $(printf '%s' "$out" | head -c 120)"
    fi

    # Hydra creates its ID-token key set (RSA) on the first JWKS request: not
    # part of the timed window.
    curl -sf -m 120 -o /dev/null "$base$P_JWKS" || die "$name JWKS did not answer"
    lg "e $name" "$P_PID" "$P_DBPID" --port "$P_PORT" --path "$P_JWKS" --expect-body '"keys"'
    ROWS+=("f $name"); R["f $name.na"]="no such route"
    R["meta.hwm.$name"]=$(awk '/VmHWM/{print $2}' "/proc/$P_PID/status" 2>/dev/null || echo 0)
    R["meta.storage.$name"]=$P_STORAGE
    R["meta.notes.$name"]=$P_NOTES
}

# dpop_proof HTM HTU: one fresh ES256 proof (python3-cryptography), for the
# capability checks above; the timed rows use the load generator's own proofs.
dpop_proof() {
    /usr/bin/python3 - "$1" "$2" <<'PYEOF'
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives import hashes
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
k = ec.generate_private_key(ec.SECP256R1())
n = k.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
h = b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).encode())
p = b64(json.dumps({"jti": str(uuid.uuid4()), "htm": sys.argv[1], "htu": sys.argv[2], "iat": int(time.time())}).encode())
r, s = utils.decode_dss_signature(k.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256())))
print(f"{h}.{p}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}")
PYEOF
}
