// Command k8s is a multi-call binary (the hyperkube model): it runs
// kube-apiserver, kube-controller-manager, kube-scheduler or kubectl depending
// on the name it was started under (symlinks), or on its first argument.
// One component per process: they share global state (flags, metrics, feature
// gates) that must not be mixed.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	_ "time/tzdata"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var servers = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": kcm.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
}

func runKubectl() {
	c := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(c); err != nil {
		kubectlutil.CheckErr(err)
	}
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name == "kubectl" {
		// kubectl reads os.Args itself (plugins), so it is only reachable by name.
		runKubectl()
		return
	}
	if _, ok := servers[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	ctor, ok := servers[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "usage: run as kube-apiserver|kube-controller-manager|kube-scheduler|kubectl (symlink), or: k8s COMPONENT [flags]")
		os.Exit(2)
	}
	c := ctor()
	c.SetArgs(args)
	os.Exit(cli.Run(c))
}
