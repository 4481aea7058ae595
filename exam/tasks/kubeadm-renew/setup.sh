#!/usr/bin/env bash
# Every certificate kubeadm manages is re-issued by kubeadm itself from the same CAs: all to expire in
# {{later_days}} days, then {{first}} and {{second}} in {{soon_days}} days; the admin's copy of admin.conf
# is made at {{kubeconfig}}, and the serials are recorded off the node (graders.exam.pki_setup, one process:
# about 15 s). The components are not restarted: what runs keeps the certificates it loaded, which the
# "running" check tells from renewed ones by the record.
set -euo pipefail
python3 -m graders.exam.pki_setup kubeadm-renew --later-hours $(( {{later_days}} * 24 )) \
  --soon-hours $(( {{soon_days}} * 24 )) --soon {{first}} {{second}} --kubeconfig {{kubeconfig}} --report {{report}}
