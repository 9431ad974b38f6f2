#!/usr/bin/env bash
# A random scheduler in bash (the "Lab 03" exercise), made safe to run:
#   - talks to the API only through `kubectl proxy` bound to 127.0.0.1 (no credentials here);
#   - binds with the pods/binding subresource, exactly as a real scheduler does;
#   - only considers pods with spec.schedulerName == $SCHEDULER_NAME that are Pending and unbound,
#     in one namespace (or all with -A), and only nodes that are not cordoned or tainted
#     NoSchedule/NoExecute (its one "filter"); the node is then picked at random;
#   - stops cleanly on Ctrl-C / SIGTERM, taking its kubectl proxy down with it.
#
# Usage: scripts/random-scheduler.sh [-n NAMESPACE | -A] [-s SCHEDULER_NAME] [-p PORT]
#                                    [-i SECONDS] [--once]
# Environment defaults: NAMESPACE=default SCHEDULER_NAME=my-scheduler PROXY_PORT=9090
#                       INTERVAL=10 KUBECTL=kubectl (KUBECONFIG as usual)
# Prints one line per decision: "Assigned NAMESPACE/POD to NODE".
set -euo pipefail
# The loop uses no command substitution ($(...)): bash 5.2 re-parses one when it expands it, and a
# trap that runs meanwhile (Ctrl-C landing there) is parsed in the middle of that parse and fails
# ("interrupt trap: unexpected EOF while looking for matching `)'", exit 2). Pipelines ending in
# the current shell (lastpipe) carry the output instead.
shopt -s lastpipe

NAMESPACE="${NAMESPACE:-default}"
ALL_NAMESPACES=false
SCHEDULER_NAME="${SCHEDULER_NAME:-my-scheduler}"
PROXY_PORT="${PROXY_PORT:-9090}"
INTERVAL="${INTERVAL:-10}"
KUBECTL="${KUBECTL:-kubectl}"
ONCE=false
PROXY_PID=""
SLEEP_PID=""

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  echo "random-scheduler: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|--namespace) [[ $# -ge 2 ]] || die "$1 needs a value"; NAMESPACE="$2"; shift 2 ;;
    -A|--all-namespaces) ALL_NAMESPACES=true; shift ;;
    -s|--scheduler-name) [[ $# -ge 2 ]] || die "$1 needs a value"; SCHEDULER_NAME="$2"; shift 2 ;;
    -p|--port) [[ $# -ge 2 ]] || die "$1 needs a value"; PROXY_PORT="$2"; shift 2 ;;
    -i|--interval) [[ $# -ge 2 ]] || die "$1 needs a value"; INTERVAL="$2"; shift 2 ;;
    --once) ONCE=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# Names go into URLs: accept only what Kubernetes itself accepts.
[[ "${NAMESPACE}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "namespace '${NAMESPACE}' is not a valid namespace name"
[[ "${SCHEDULER_NAME}" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "scheduler name '${SCHEDULER_NAME}' is not valid"
if ! [[ "${PROXY_PORT}" =~ ^[0-9]{1,5}$ ]] || (( PROXY_PORT < 1 || PROXY_PORT > 65535 )); then
  die "port '${PROXY_PORT}' is not a TCP port"
fi
if ! [[ "${INTERVAL}" =~ ^[0-9]{1,6}$ ]] || (( INTERVAL < 1 )); then
  die "interval '${INTERVAL}' is not a whole number of seconds >= 1"
fi
for tool in "${KUBECTL}" curl jq; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} not found on PATH"
done

API="http://127.0.0.1:${PROXY_PORT}"
if [[ "${ALL_NAMESPACES}" == true ]]; then WHERE="all namespaces"; else WHERE="namespace ${NAMESPACE}"; fi

cleanup() {
  if [[ -n "${SLEEP_PID}" ]]; then
    kill "${SLEEP_PID}" 2>/dev/null || true
  fi
  if [[ -n "${PROXY_PID}" ]] && kill -0 "${PROXY_PID}" 2>/dev/null; then
    kill "${PROXY_PID}" 2>/dev/null || true
    wait "${PROXY_PID}" 2>/dev/null || true
  fi
}
stop() {
  # The signal may land while a pipeline's curl is still talking to the proxy (the builtin at the
  # pipeline's end runs the trap at once): stop this script's children first, so that curl is not
  # cut off by the proxy's end and print its error after our last line; then the proxy.
  trap - INT TERM
  pkill -TERM -P $$ -x 'curl|jq|sleep' 2>/dev/null || true
  cleanup
  # A function in a pipeline (pending_pods | mapfile) runs in a subshell, so its curl is a grandchild
  # pkill does not reach; with the proxy gone it fails at once. Wait (at most 5 s) until no child is
  # left, so its error line comes before ours.
  for ((i = 0; i < 100; i++)); do
    pgrep -P $$ >/dev/null || break
    sleep 0.05
  done
  echo "random-scheduler: stopping" >&2
  exit 0
}
trap cleanup EXIT
trap stop INT TERM

"${KUBECTL}" proxy --address=127.0.0.1 --port="${PROXY_PORT}" --accept-hosts='^(localhost|127\.0\.0\.1)$' >&2 &
PROXY_PID=$!

# Wait (at most 15 s) until the proxy answers.
for ((i = 0; i < 75; i++)); do
  if curl -fsS -o /dev/null "${API}/version" 2>/dev/null; then
    break
  fi
  kill -0 "${PROXY_PID}" 2>/dev/null || { echo "random-scheduler: kubectl proxy exited (is port ${PROXY_PORT} free?)" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -o /dev/null "${API}/version" || { echo "random-scheduler: kubectl proxy on ${API} does not answer" >&2; exit 1; }
echo "random-scheduler: ${SCHEDULER_NAME} watching ${WHERE} through ${API}" >&2

# Unbound Pending pods, server-side: fieldSelector spec.nodeName=,status.phase=Pending
PENDING_SELECTOR="fieldSelector=spec.nodeName%3D%2Cstatus.phase%3DPending"
if [[ "${ALL_NAMESPACES}" == true ]]; then
  PODS_URL="${API}/api/v1/pods?${PENDING_SELECTOR}"
else
  PODS_URL="${API}/api/v1/namespaces/${NAMESPACE}/pods?${PENDING_SELECTOR}"
fi

schedulable_nodes() {
  curl -fsS "${API}/api/v1/nodes" | jq -r '
    .items[]
    | select((.spec.unschedulable // false) | not)
    | select([.spec.taints[]? | select(.effect == "NoSchedule" or .effect == "NoExecute")] | length == 0)
    | .metadata.name'
}

pending_pods() {
  curl -fsS "${PODS_URL}" | jq -r --arg scheduler "${SCHEDULER_NAME}" '
    .items[]
    | select(.spec.schedulerName == $scheduler and .metadata.deletionTimestamp == null)
    | "\(.metadata.namespace) \(.metadata.name)"'
}

bind() {
  local namespace="$1" pod="$2" node="$3"
  jq -cn --arg pod "${pod}" --arg node "${node}" \
    '{apiVersion: "v1", kind: "Binding", metadata: {name: $pod}, target: {apiVersion: "v1", kind: "Node", name: $node}}' \
    | curl -fsS -o /dev/null -X POST -H "Content-Type: application/json" --data @- \
      "${API}/api/v1/namespaces/${namespace}/pods/${pod}/binding"
}

schedule_once() {
  local entry namespace pod chosen
  local -a nodes pods
  schedulable_nodes | mapfile -t nodes || { echo "random-scheduler: could not list nodes" >&2; return 1; }
  pending_pods | mapfile -t pods || { echo "random-scheduler: could not list pods" >&2; return 1; }
  (( ${#pods[@]} > 0 )) || return 0
  if (( ${#nodes[@]} == 0 )); then
    echo "random-scheduler: pods are waiting but no node is schedulable" >&2
    return 0
  fi
  for entry in "${pods[@]}"; do
    namespace="${entry%% *}"
    pod="${entry#* }"
    chosen="${nodes[RANDOM % ${#nodes[@]}]}"
    if bind "${namespace}" "${pod}" "${chosen}"; then
      echo "Assigned ${namespace}/${pod} to ${chosen}"
    else
      echo "random-scheduler: binding ${namespace}/${pod} to ${chosen} failed (already bound or deleted?)" >&2
    fi
  done
}

while true; do
  if ! schedule_once; then
    kill -0 "${PROXY_PID}" 2>/dev/null || { echo "random-scheduler: kubectl proxy died" >&2; exit 1; }
    [[ "${ONCE}" == true ]] && exit 1
  fi
  [[ "${ONCE}" == true ]] && exit 0
  # Sleep in the background so a signal interrupts the wait at once.
  sleep "${INTERVAL}" &
  SLEEP_PID=$!
  wait "${SLEEP_PID}" || true
  SLEEP_PID=""
done
