#!/bin/sh
# Four fresh keys as LETHE_*_KEY lines (an env file for compose, or the data of a Secret).
# Every worker and command of one ledger needs the same four: back them up apart from the
# ledger's backups (docs/production.md, "Keys").
set -eu
for name in PSEUDONYM VAULT PAYLOAD SIGNING; do
  printf 'LETHE_%s_KEY=%s\n' "$name" "$(head -c 32 /dev/urandom | base64)"
done
