#!/usr/bin/env bash
# Fetches the Kafka broker jars once into a cache keyed by version (a second run downloads nothing) and prints
# the jar directory. Usage: fetch.sh [version]   (default: <kafka.version> in pom.xml, or $BACKPLANE_KAFKA_VERSION)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
default="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
version="${1:-${BACKPLANE_KAFKA_VERSION:-$default}}"
case "$version" in (*[!0-9A-Za-z.-]*|'') echo "bad Kafka version '$version'" >&2; exit 1;; esac
cache="${BACKPLANE_CACHE:-$HOME/.cache/backplane}/kafka-$version"
if ls "$cache"/kafka_2.13-"$version".jar >/dev/null 2>&1; then echo "$cache"; exit 0; fi
command -v mvn >/dev/null || { echo "mvn not found. Install it: apt-get install maven" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found. Install it: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
mkdir -p "$(dirname "$cache")"
tmp="$(mktemp -d "$cache.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B -f "$here/pom.xml" -Dkafka.version="$version" dependency:copy-dependencies -DoutputDirectory="$tmp" >&2
# Another process may have filled the cache meanwhile; either copy is complete, keep the first.
[ -d "$cache" ] || mv "$tmp" "$cache" 2>/dev/null || true
echo "$cache"
