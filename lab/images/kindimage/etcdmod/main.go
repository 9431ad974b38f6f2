// Command etcd is upstream etcd's server (etcdmain), as in registry.k8s.io/etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
