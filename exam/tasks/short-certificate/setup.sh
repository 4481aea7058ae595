#!/usr/bin/env bash
set -euo pipefail
kubectl delete csr {{user}} --ignore-not-found
