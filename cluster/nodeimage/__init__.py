"""A kind node image built on this machine, without any container registry.

``kind build node-image`` pulls etcd, CoreDNS, pause, kindnetd and local-path images from
registries and cannot skip them, so a machine that reaches no registry (ours, CI's) cannot make
one. This package makes an image that meets the same contract (kind's ``pkg/build/nodeimage``):
a Debian root filesystem with systemd, containerd, runc and the CNI plugins; kind's node files
(``images/base/files`` of the pinned kind module); kubeadm, kubelet and kubectl of the pinned
release; and every image ``kubeadm config images list`` names, made from binaries built from
their sources and preloaded in the node's containerd.

``recipe`` says what goes in (pure), ``archive`` writes image archives (pure), ``build`` runs
the build and keeps the result in the cache.
"""
