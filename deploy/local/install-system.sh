#!/usr/bin/env bash
# Installs the Debian packages the tests and the local services need, and only
# those that are missing: a machine that already has them never calls apt.
#
#   postgresql             PostgreSQL 15 server for deploy/local/postgres.sh
#   softhsm2               PKCS#11 token for the signing service
#   tesseract-ocr, tesseract-ocr-chi-sim, tesseract-ocr-eng, fonts-noto-cjk,
#   poppler-utils          OCR of qualification documents (and rendering them);
#                          the language packs do not pull in the tesseract
#                          binary, so tesseract-ocr is listed too; its pdfsig
#                          checks sealed files independently of pyhanko
#   libnss3-tools          certutil, to give pdfsig a trust store holding the
#                          platform's root
#   openjdk-17-jre-headless, maven
#                          run and fetch Kafka (deploy/local/kafka.sh); only
#                          installed when `java` / `mvn` are not on PATH
#
# Needs root when something is missing (apt-get install).
set -euo pipefail

PACKAGES=(
    postgresql
    softhsm2
    tesseract-ocr
    tesseract-ocr-chi-sim
    tesseract-ocr-eng
    fonts-noto-cjk
    poppler-utils
    libnss3-tools
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # dpkg -s also succeeds for removed-but-configured packages: check Status.
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)

if ((${#missing[@]} == 0)); then
    echo "install-system.sh: all system packages present"
    exit 0
fi

if [[ $EUID -ne 0 ]]; then
    echo "install-system.sh: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
fi

echo "install-system.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# Installing postgresql would start Debian's own cluster on port 5432 and leave
# it running; the tests use their own throwaway cluster (postgres.sh). A
# policy-rc.d that answers 101 keeps apt from starting any service; put one in
# place for the duration of the install unless the machine already has one.
POLICY=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY" ]]; then
    printf '#!/bin/sh\n# temporary, from shouying install-system.sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system.sh: done"
