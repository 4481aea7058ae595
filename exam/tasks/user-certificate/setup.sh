#!/usr/bin/env bash
# Nothing of the answer exists yet: only an earlier attempt's objects are removed.
set -euo pipefail
kubectl delete csr "{{user}}" --ignore-not-found
