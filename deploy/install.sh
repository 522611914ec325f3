#!/usr/bin/env bash
# Installs one O'Chat server from this repository into a directory of its own, with its production
# dependencies only: the relay or the node, runnable as `node DIR/bin/ochat-<server>.mjs`.
#
#   deploy/install.sh relay|node DIR [--offline]
#
# Both container images run it, the systemd way runs it on the host, and CI runs it with --offline
# (every package from the pnpm store already on the machine, no registry).
#
# The servers run their TypeScript through tsx, so there is no build step: this is `pnpm deploy` of one
# workspace package, which copies the package, installs its dependencies from the lockfile as it is,
# and puts a copy of @ochat/shared-protocol (not a link into the repository) in its node_modules.
# better-sqlite3 compiles from source unless the store has it built already (.npmrc's
# build-from-source): the machine needs python3, make and g++.
set -euo pipefail

usage() {
  echo "usage: deploy/install.sh relay|node DIR [--offline]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
server=$1
target=$2
shift 2
offline=()
for option in "$@"; do
  case $option in
    --offline) offline=(--offline) ;;
    *) usage ;;
  esac
done
case $server in
  relay | node) ;;
  *) usage ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -e "$target" ] && [ -n "$(ls -A "$target" 2>/dev/null)" ]; then
  echo "deploy/install.sh: $target exists and is not empty; install into a new directory" >&2
  exit 1
fi
mkdir -p "$(dirname "$target")"
target=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")

PNPM=(npx --yes pnpm@10)
cd "$repo"
# pnpm 10 deploys from the lockfile only for injected workspace packages; set here for this command
# alone, so the workspace itself keeps its links. --frozen-lockfile: what runs is what CI tested.
"${PNPM[@]}" --filter "@ochat/$server" --config.inject-workspace-packages=true \
  deploy --prod --frozen-lockfile "${offline[@]}" "$target"

# The package's tests and benchmarks are not part of a server.
rm -rf "$target/test" "$target/bench" "$target/drizzle.config.ts"

node "$target/bin/ochat-$server.mjs" --help >/dev/null
echo "installed the $server in $target: node $target/bin/ochat-$server.mjs serve"
