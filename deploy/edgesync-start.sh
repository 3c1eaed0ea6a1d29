#!/bin/sh
# Starts `edgesync sync start` from environment variables only: the Docker image's ENTRYPOINT and the
# systemd units' ExecStart. It checks the configuration first and refuses a bad one with one line naming
# the variable and the fix, and exit status 78 (EX_CONFIG), which the units do not restart on: a typo
# should stop the service, not loop it. Everything else is edgesync's own (it reads the same EDGESYNC_*
# variables; a flag given here wins). See deploy/README.md for every variable.
set -eu

EX_CONFIG=78
STATE_DIR_DEFAULT=/var/lib/edgesync

fail() {
  echo "edgesync-start: $*" >&2
  exit "$EX_CONFIG"
}

# HOST:PORT or [IPv6]:PORT with a port in 1..65535.
is_listen_address() {
  case "$1" in
    \[*\]:*) host_part=${1%:*} ;;
    *:*:*) return 1 ;;
    ?*:*) host_part=${1%:*} ;;
    *) return 1 ;;
  esac
  port=${1##*:}
  [ -n "$host_part" ] || return 1
  case "$port" in '' | *[!0-9]*) return 1 ;; esac
  [ "${#port}" -le 5 ] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ]
}

check_listen() { # NAME VALUE
  is_listen_address "$2" || fail "$1=\"$2\" is not HOST:PORT with a port from 1 to 65535 (e.g. 0.0.0.0:4222)"
}

check_flag() { # NAME VALUE: an on/off switch
  case "$2" in
    '' | 0 | 1) ;;
    *) fail "$1=\"$2\" must be 1 (on) or 0 / unset (off)" ;;
  esac
}

# Comma-separated vault folders: each must exist and be a vault already (init or clone it first).
check_vaults() {
  [ -n "${EDGESYNC_VAULTS:-}" ] || fail "EDGESYNC_VAULTS is not set: list the vault folders to sync, comma-separated (make each with \`edgesync init\` or \`edgesync clone\` first)"
  old_ifs=$IFS
  IFS=,
  for dir in $EDGESYNC_VAULTS; do
    [ -n "$dir" ] || continue
    [ -d "$dir" ] || fail "EDGESYNC_VAULTS names $dir, which is not a folder: create it with \`edgesync init --cwd $dir\` or \`edgesync clone\`"
    [ -f "$dir/.edgesync/config.toml" ] || fail "EDGESYNC_VAULTS names $dir, which is not a vault: run \`edgesync init --cwd $dir\` or \`edgesync clone HUB_URL $dir\` first"
  done
  IFS=$old_ifs
}

# Every non-blank, non-comment line must be an ssh-ed25519 key: that is all a hub admin can be.
check_admin_keys() {
  server_dir=${EDGESYNC_SERVER_DIR:-$EDGESYNC_HOME/.edgesync-server}
  if [ -z "${EDGESYNC_AUTHORIZED_KEYS:-}" ]; then
    [ -s "$server_dir/authorized_keys" ] && return 0
    fail "EDGESYNC_AUTHORIZED_KEYS is not set: give the ssh-ed25519 line (\`edgesync key show\`) of each admin who may add vaults to this hub, one per line"
  fi
  printf '%s\n' "$EDGESYNC_AUTHORIZED_KEYS" | while IFS= read -r line; do
    case "$line" in
      '' | '#'*) ;;
      ssh-ed25519\ *) ;;
      *) fail "EDGESYNC_AUTHORIZED_KEYS has a line that is not an ssh-ed25519 key: \"$(printf '%.40s' "$line")\"" ;;
    esac
  done || exit "$EX_CONFIG" # the loop runs in a subshell: its fail() ends only that
}

export EDGESYNC_HOME="${EDGESYNC_HOME:-$STATE_DIR_DEFAULT}"
[ -d "$EDGESYNC_HOME" ] || fail "EDGESYNC_HOME=$EDGESYNC_HOME is not a folder: mount the state volume there (or create it)"
[ -w "$EDGESYNC_HOME" ] || fail "EDGESYNC_HOME=$EDGESYNC_HOME is not writable by uid $(id -u): give the state volume to that user (chown $(id -u) on the host)"

role=${EDGESYNC_NATS_ROLE:-}
set -- sync start
case "$role" in
  '') fail "EDGESYNC_NATS_ROLE is not set: set it to hub (a server devices reach), leaf (syncs folders through a hub) or peer" ;;
  hub)
    check_admin_keys
    EDGESYNC_NATS_LISTEN=${EDGESYNC_NATS_LISTEN:-0.0.0.0:4222}
    EDGESYNC_LEAF_LISTEN=${EDGESYNC_LEAF_LISTEN:-0.0.0.0:7422}
    check_listen EDGESYNC_LEAF_LISTEN "$EDGESYNC_LEAF_LISTEN"
    set -- "$@" --nats-role hub --leaf-listen "$EDGESYNC_LEAF_LISTEN"
    if [ -n "${EDGESYNC_LEAF_WS_LISTEN:-}" ]; then
      check_listen EDGESYNC_LEAF_WS_LISTEN "$EDGESYNC_LEAF_WS_LISTEN"
      set -- "$@" --leaf-ws-listen "$EDGESYNC_LEAF_WS_LISTEN"
    fi
    ;;
  leaf)
    [ -n "${EDGESYNC_HUB:-}" ] || fail "EDGESYNC_HUB is not set: give the hub's leafnode URL, e.g. nats-leaf://hub.example.org:7422"
    case "$EDGESYNC_HUB" in
      nats-leaf://?* | tls://?* | nats://?* | ws://?* | wss://?*) ;;
      *) fail "EDGESYNC_HUB=\"$EDGESYNC_HUB\" is not a leafnode URL: use nats-leaf://HOST:7422" ;;
    esac
    check_vaults
    check_flag EDGESYNC_ACCEPT_HUB_KEY "${EDGESYNC_ACCEPT_HUB_KEY:-}"
    set -- "$@" --nats-role leaf --hub "$EDGESYNC_HUB"
    [ "${EDGESYNC_ACCEPT_HUB_KEY:-}" != 1 ] || set -- "$@" --accept-hub-key
    ;;
  peer)
    check_vaults
    set -- "$@" --nats-role peer
    if [ -n "${EDGESYNC_CLUSTER_LISTEN:-}" ]; then
      check_listen EDGESYNC_CLUSTER_LISTEN "$EDGESYNC_CLUSTER_LISTEN"
      set -- "$@" --cluster-listen "$EDGESYNC_CLUSTER_LISTEN"
    fi
    ;;
  *) fail "EDGESYNC_NATS_ROLE=\"$role\" is not hub, leaf or peer" ;;
esac

if [ -n "${EDGESYNC_NATS_LISTEN:-}" ]; then
  check_listen EDGESYNC_NATS_LISTEN "$EDGESYNC_NATS_LISTEN"
  set -- "$@" --nats-listen "$EDGESYNC_NATS_LISTEN"
fi
for name in EDGESYNC_METRICS EDGESYNC_BRIDGE; do
  eval "value=\${$name:-}"
  [ -z "$value" ] || check_listen "$name" "$value"
done
[ -z "${EDGESYNC_METRICS:-}" ] || set -- "$@" --metrics "$EDGESYNC_METRICS"
[ -z "${EDGESYNC_BRIDGE:-}" ] || set -- "$@" --bridge "$EDGESYNC_BRIDGE"
check_flag EDGESYNC_NO_TLS "${EDGESYNC_NO_TLS:-}"
[ "${EDGESYNC_NO_TLS:-}" != 1 ] || set -- "$@" --no-tls

# Comma-separated lists become repeated flags.
old_ifs=$IFS
IFS=,
for name in ${EDGESYNC_TLS_HOSTNAMES:-}; do [ -z "$name" ] || set -- "$@" --tls-hostname "$name"; done
for url in ${EDGESYNC_PEERS:-}; do [ -z "$url" ] || set -- "$@" --peer "$url"; done
for dir in ${EDGESYNC_VAULTS:-}; do [ -z "$dir" ] || set -- "$@" "$dir"; done
IFS=$old_ifs

# EDGESYNC_BIN: the command to run (tests point it at the built dist/cmd/edgesync.js).
exec ${EDGESYNC_BIN:-edgesync} "$@"
