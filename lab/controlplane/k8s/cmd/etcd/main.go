// Command etcd is upstream etcd server at the version Kubernetes pins. It is a
// separate binary because etcd registers its metrics in init().
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
