// Command coredns is CoreDNS v1.14.6 (kubeadm's CoreDNSVersion for Kubernetes v1.37.0) with the
// plugins that kubeadm's Corefile uses (cmd/kubeadm/app/phases/addons/dns/manifests.go), built
// the way CoreDNS documents for a smaller binary: coremain plus the chosen plugin packages. The
// order in which plugins run comes from CoreDNS's own core/dnsserver/zdirectives.go, not from
// these imports.
package main

import (
	_ "github.com/coredns/coredns/core" // the DNS server type
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
