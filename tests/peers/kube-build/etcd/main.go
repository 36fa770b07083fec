// Command etcd is a thin wrapper around etcd's real server entry point.
//
// Why a wrapper: `go install go.etcd.io/etcd/server/v3` fails by design,
// because etcd's server go.mod carries replace directives (among them
// go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY) and `go install pkg@version`
// refuses modules with replaces. This file mirrors etcd-io/etcd server/main.go,
// so the binary is the same program etcd ships, built inside our own module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
