// Command wireprobe measures what the API server spends on each bind, by the wire format and the
// transport a scheduler binds with: protobuf or JSON bodies, over one HTTP/2 connection or over
// many HTTP/1.1 connections. kube-scheduler v1.29 binds in protobuf over HTTP/2 (its
// clientConnection defaults); the Python scheduler binds in JSON over HTTP/1.1. If one costs the
// API server more CPU per bind, a CPU-bound lab binds that scheduler's pods more slowly.
//
//	wireprobe -kubeconfig K -namespace NS -apiserver-pid PID [-pods 2000 -concurrency 64 -events]
//
// Each round creates -pods pending pods (for a scheduler that does not exist), binds them all to a
// node name that no kubelet or kwok serves (the Binding subresource does not require the node to
// exist), and reads the API server's CPU time from /proc before and after the binds; then it
// deletes the pods. The four combinations run in turn, -rounds times, and each round prints one
// JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	probeLabel = "scheduler-lab.io/wireprobe"
	nowhere    = "wireprobe-nowhere" // no node of that name: nothing acts on the bound pods
	clockTicks = 100                 // USER_HZ on Linux: the unit of /proc/<pid>/stat times
)

type variant struct {
	Format    string // "protobuf" or "json"
	Transport string // "http2" (one connection) or "http1" (one connection per request in flight)
}

type result struct {
	variant
	Round              int     `json:"round"`
	Pods               int     `json:"pods"`
	Concurrency        int     `json:"concurrency"`
	Events             bool    `json:"events"`
	Seconds            float64 `json:"seconds"`
	BindsPerSecond     float64 `json:"binds_per_second"`
	APIServerCPUPerPod float64 `json:"apiserver_cpu_ms_per_pod"`
	Failures           int     `json:"failures"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the lab")
	namespace := flag.String("namespace", "wireprobe", "namespace for the probe's pods (created if missing)")
	apiserverPID := flag.Int("apiserver-pid", 0, "pid of kube-apiserver, whose CPU time is read")
	pods := flag.Int("pods", 2000, "pods bound per round")
	concurrency := flag.Int("concurrency", 64, "binds in flight")
	rounds := flag.Int("rounds", 3, "rounds of each combination")
	events := flag.Bool("events", true, "write a Scheduled event (events.k8s.io/v1) after each bind, as a scheduler does")
	only := flag.String("variants", "", "comma-separated format/transport pairs to run (e.g. protobuf/http2,json/http1); all four by default")
	flag.Parse()
	if *kubeconfig == "" || *apiserverPID == 0 {
		fail("-kubeconfig and -apiserver-pid are required")
	}
	base, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("kubeconfig %s: %v", *kubeconfig, err)
	}
	setup := kubernetes.NewForConfigOrDie(withWire(base, variant{"protobuf", "http2"}, *concurrency))
	ctx := context.Background()
	_, err = setup.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: *namespace}},
		metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		fail("namespace %s: %v", *namespace, err)
	}
	variants := []variant{{"protobuf", "http2"}, {"json", "http1"}, {"json", "http2"}, {"protobuf", "http1"}}
	if *only != "" {
		var chosen []variant
		for _, pair := range strings.Split(*only, ",") {
			format, transport, _ := strings.Cut(pair, "/")
			v := variant{format, transport}
			if (format != "protobuf" && format != "json") || (transport != "http2" && transport != "http1") {
				fail("-variants: %q is not one of protobuf/http2, protobuf/http1, json/http2, json/http1", pair)
			}
			chosen = append(chosen, v)
		}
		variants = chosen
	}
	for round := 1; round <= *rounds; round++ {
		for i := range variants {
			// Alternate the order each round: no variant always follows the same one.
			v := variants[(i+round-1)%len(variants)]
			names := createPods(ctx, setup, *namespace, fmt.Sprintf("probe-%d-%d-", round, i), *pods)
			client := kubernetes.NewForConfigOrDie(withWire(base, v, *concurrency))
			before := cpuTicks(*apiserverPID)
			start := time.Now()
			failures := bindAll(ctx, client, *namespace, names, *concurrency, *events)
			seconds := time.Since(start).Seconds()
			used := float64(cpuTicks(*apiserverPID)-before) * 1000 / clockTicks
			line, _ := json.Marshal(result{v, round, len(names), *concurrency, *events, seconds,
				float64(len(names)) / seconds, used / float64(len(names)), failures})
			fmt.Println(string(line))
			deletePods(ctx, setup, *namespace)
		}
	}
}

// withWire is base with the variant's body format and transport, and no client-side rate limit
// (the API server is what is measured).
func withWire(base *rest.Config, v variant, concurrency int) *rest.Config {
	cfg := rest.CopyConfig(base)
	cfg.QPS, cfg.Burst = -1, 0
	if v.Format == "protobuf" {
		cfg.ContentType = "application/vnd.kubernetes.protobuf"
		cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	} else {
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	}
	if v.Transport == "http1" {
		cfg.TLSClientConfig.NextProtos = []string{"http/1.1"}
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if t, ok := rt.(*http.Transport); ok {
				t.MaxIdleConnsPerHost = 2 * concurrency // keep every connection: no handshake per bind
			}
			return rt
		}
	}
	return cfg
}

func createPods(ctx context.Context, client kubernetes.Interface, namespace, prefix string, count int) []probePod {
	names := make([]probePod, count)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: prefix + strconv.Itoa(i), Labels: map[string]string{probeLabel: "1"}},
					Spec: corev1.PodSpec{SchedulerName: "wireprobe-nobody", Containers: []corev1.Container{{
						Name: "c", Image: "registry.k8s.io/pause:3.9",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("1m")}},
					}}},
				}
				created, err := client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
				if err != nil {
					fail("create pod: %v", err)
				}
				names[i] = probePod{created.Name, string(created.UID)}
			}
		}()
	}
	for i := 0; i < count; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return names
}

type probePod struct{ name, uid string }

func bindAll(ctx context.Context, client kubernetes.Interface, namespace string, pods []probePod, concurrency int,
	events bool) int {
	work := make(chan probePod)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				err := client.CoreV1().Pods(namespace).Bind(ctx, &corev1.Binding{
					ObjectMeta: metav1.ObjectMeta{Name: p.name, UID: types.UID(p.uid)},
					Target:     corev1.ObjectReference{Kind: "Node", Name: nowhere},
				}, metav1.CreateOptions{})
				if err == nil && events {
					_, err = client.EventsV1().Events(namespace).Create(ctx, scheduled(namespace, p), metav1.CreateOptions{})
				}
				if err != nil {
					mu.Lock()
					if failures == 0 {
						fmt.Fprintf(os.Stderr, "wireprobe: first failure: %v\n", err)
					}
					failures++
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	return failures
}

func scheduled(namespace string, p probePod) *eventsv1.Event {
	now := metav1.NewMicroTime(time.Now())
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{ // named as client-go's event recorder names them
			Name: p.name + "." + strconv.FormatInt(time.Now().UnixNano(), 16), Namespace: namespace},
		EventTime:           now,
		ReportingController: "wireprobe",
		ReportingInstance:   "wireprobe",
		Action:              "Binding",
		Reason:              "Scheduled",
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: p.name, UID: types.UID(p.uid)},
		Note:                fmt.Sprintf("Successfully assigned %s/%s to %s", namespace, p.name, nowhere),
		Type:                corev1.EventTypeNormal,
	}
}

func deletePods(ctx context.Context, client kubernetes.Interface, namespace string) {
	zero := int64(0)
	selector := metav1.ListOptions{LabelSelector: probeLabel}
	if err := client.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
		selector); err != nil {
		fail("delete pods: %v", err)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		left, err := client.CoreV1().Pods(namespace).List(ctx, selector)
		if err == nil && len(left.Items) == 0 {
			return
		}
	}
	fail("pods of %s still there 2 minutes after their deletion", namespace)
}

// cpuTicks is the process's user + system CPU time in clock ticks (/proc/<pid>/stat fields 14, 15).
func cpuTicks(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail("apiserver pid %d: %v", pid, err)
	}
	fields := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "wireprobe: "+format+"\n", args...)
	os.Exit(1)
}
