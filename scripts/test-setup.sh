#!/usr/bin/env bash
# Runs before `npm test`: makes sure every program the tests start is on this machine. The tests start
# their own brokers on random free ports (never services you have running): redis-server and redis-cli,
# nats-server, Java + Maven for the Kafka broker (its jars are fetched once from Maven Central into
# ~/.cache/backplane), and Chromium for the demo page test. What is missing is installed when the package
# manager is usable (apt-get as root or through sudo without a password); otherwise this stops with the
# exact command to run. BACKPLANE_SKIP_TEST_SETUP=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BACKPLANE_SKIP_TEST_SETUP:-}" = 1 ] && exit 0

# binary -> Debian/Ubuntu packages, Homebrew formulae
declare -a NEEDS=(
  "redis-server|redis-server redis-tools|redis"
  "redis-cli|redis-tools|redis"
  "nats-server|nats-server|nats-server"
  "java|openjdk-17-jre-headless|openjdk@17"
  "mvn|maven|maven"
  "chromium|chromium|--cask chromium"
)

missing_apt=()
missing_brew=()
for need in "${NEEDS[@]}"; do
  IFS='|' read -r bin apt brew <<<"$need"
  command -v "$bin" >/dev/null 2>&1 && continue
  [ "$bin" = chromium ] && [ -x /usr/bin/chromium ] && continue
  missing_apt+=($apt)
  missing_brew+=("$brew")
done

if [ ${#missing_apt[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing_apt[@]}" | sort -u | tr '\n' ' ')
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
    echo "test setup: installing $packages(apt-get)" >&2
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! { run env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "test setup: apt-get failed (above); install them yourself: sudo apt-get install -y $packages" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
  else
    echo "test setup: the tests need programs this machine does not have. Install them, then run npm test again:" >&2
    if command -v apt-get >/dev/null 2>&1; then
      echo "  sudo apt-get install -y $packages" >&2
    elif command -v brew >/dev/null 2>&1; then
      echo "  brew install $(printf '%s\n' "${missing_brew[@]}" | grep -v -- --cask | sort -u | tr '\n' ' ')" >&2
      printf '%s\n' "${missing_brew[@]}" | grep -q -- --cask && echo "  brew install --cask chromium" >&2
    else
      echo "  (Debian/Ubuntu package names) $packages" >&2
    fi
    exit 1
  fi
fi

# The Kafka broker's jars (cached; a second run downloads nothing).
bash packages/testkit/kafka/fetch.sh >/dev/null
