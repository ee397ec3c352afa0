#!/usr/bin/env bash
# Fetches the Kafka broker jars once into a cache keyed by this pom's version (a second run does nothing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${BACKPLANE_CACHE:-$HOME/.cache/backplane}/kafka-3.9.1"
if ls "$cache"/kafka_2.13-*.jar >/dev/null 2>&1; then echo "$cache"; exit 0; fi
command -v mvn >/dev/null || { echo "mvn not found. Install it: apt-get install maven" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found. Install it: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
mkdir -p "$cache.tmp"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache.tmp" >&2
rm -rf "$cache" && mv "$cache.tmp" "$cache"
echo "$cache"
