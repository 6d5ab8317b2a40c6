// cnitool: the reference CNI client (libcni, from Debian's golang-github-appc-cni-dev)
// as a command, so that tests/engines/libcni.sh drives wnet's CNI plugin the way
// runtimes built on libcni do: VERSION through ValidateNetworkList and GetVersionInfo,
// ADD with the result parsed and cached, CHECK and DEL with that cached result as
// prevResult.
//
//	cnitool validate CONFLIST
//	cnitool version  CONFLIST PLUGIN
//	cnitool add|check|del CONFLIST ID NETNS IFNAME [K=V;…]
//
// PLUGIN_DIR and CACHE_DIR name the plugin directory and libcni's cache.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: cnitool validate|version|add|check|del CONFLIST …"))
	}
	ctx := context.Background()
	cni := libcni.NewCNIConfigWithCacheDir([]string{os.Getenv("PLUGIN_DIR")}, os.Getenv("CACHE_DIR"), nil)
	list, err := libcni.ConfListFromFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	switch os.Args[1] {
	case "validate":
		versions, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(versions, " "))
		return
	case "version":
		info, err := cni.GetVersionInfo(ctx, os.Args[3])
		if err != nil {
			fail(err)
		}
		fmt.Println(strings.Join(info.SupportedVersions(), " "))
		return
	}
	if len(os.Args) < 6 {
		fail(fmt.Errorf("usage: cnitool add|check|del CONFLIST ID NETNS IFNAME [K=V;…]"))
	}
	rt := &libcni.RuntimeConf{ContainerID: os.Args[3], NetNS: os.Args[4], IfName: os.Args[5]}
	if len(os.Args) > 6 {
		for _, kv := range strings.Split(os.Args[6], ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				rt.Args = append(rt.Args, [2]string{k, v})
			}
		}
	}
	switch os.Args[1] {
	case "add":
		res, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		// In the newest result version libcni knows: the plugin's answer converted.
		r, err := current.NewResultFromResult(res)
		if err != nil {
			fail(err)
		}
		out, _ := json.Marshal(r)
		fmt.Println(string(out))
	case "check":
		if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cni.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown command %s", os.Args[1]))
	}
}
