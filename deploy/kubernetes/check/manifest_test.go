package check

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// load decodes each document of the manifest strictly: a field the API
// does not have, or a value of the wrong type, fails.
func load(t *testing.T) (*appsv1.Deployment, *corev1.Service, *policyv1.PodDisruptionBudget) {
	data, err := os.ReadFile("../herd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		pdb *policyv1.PodDisruptionBudget
	)
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		var meta struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			dep = &appsv1.Deployment{}
			obj = dep
		case "v1 Service":
			svc = &corev1.Service{}
			obj = svc
		case "policy/v1 PodDisruptionBudget":
			pdb = &policyv1.PodDisruptionBudget{}
			obj = pdb
		default:
			t.Fatalf("document %d: unexpected %s %s", i, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	if dep == nil || svc == nil || pdb == nil {
		t.Fatal("the manifest needs a Deployment, a Service and a PodDisruptionBudget")
	}
	return dep, svc, pdb
}

func TestManifest(t *testing.T) {
	dep, svc, pdb := load(t)
	pod := dep.Spec.Template
	if dep.Spec.Selector == nil || !selects(dep.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("the Deployment's selector does not select its pods")
	}
	if !selects(svc.Spec.Selector, pod.Labels) {
		t.Error("the Service does not select the Deployment's pods")
	}
	if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, pod.Labels) {
		t.Error("the PodDisruptionBudget does not select the Deployment's pods")
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || *dep.Spec.Replicas < 2 {
		t.Errorf("%d replicas, a budget of %v unavailable: want at least 2 and 1", *dep.Spec.Replicas, pdb.Spec.MaxUnavailable)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want herd alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}

	// The hub listens where the probes, the port and the Service look.
	if len(c.Ports) != 1 || env["HERD_ADDR"].Value != ":8080" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("container port %v, HERD_ADDR %q: want 8080 for both", c.Ports, env["HERD_ADDR"].Value)
	}
	if svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("the Service targets %q, the container's port is %q", svc.Spec.Ports[0].TargetPort.String(), c.Ports[0].Name)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "http" {
		t.Error("readiness must ask /readyz: not ready while the store is unreachable or the hub drains")
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Error("liveness must ask /healthz, not /readyz: a store outage must not restart every node")
	}

	// Several nodes share a broker, never a bolt file; publishing needs a
	// credential (without one only the pod's own loopback may publish).
	if ref := env["HERD_STORE"].ValueFrom; ref == nil || ref.SecretKeyRef == nil {
		t.Error("HERD_STORE must come from a Secret: the URL holds the broker's password")
	}
	if env["HERD_JWT_KEY"].ValueFrom == nil && env["HERD_PUBLISH_KEY"].ValueFrom == nil {
		t.Error("no publish credential from a Secret: nobody could publish")
	}

	// The grace period outlasts what herd does on SIGTERM.
	window, err := time.ParseDuration(env["HERD_SHUTDOWN_WINDOW"].Value)
	if err != nil {
		t.Fatalf("HERD_SHUTDOWN_WINDOW: %v", err)
	}
	var preStop time.Duration
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
		preStop = time.Duration(h.PreStop.Sleep.Seconds) * time.Second
	}
	const drain = 10 * time.Second // herd serve bounds its server's drain by the window plus this
	if grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second; grace < preStop+window+drain {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %v + shutdown window %v + drain %v", grace, preStop, window, drain)
	}
	if preStop == 0 {
		t.Error("no preStop sleep: the pod would stop accepting before the endpoints drop it")
	}

	// Least privilege: herd needs no root, no writable image, no capability.
	sc, psc := c.SecurityContext, pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Error("the pod must run as the image's user 65532, not root")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("the container must have a read-only root, no privilege escalation, and drop all capabilities")
	}
	if !strings.Contains(c.Image, "herd") || len(c.Args) != 1 || c.Args[0] != "serve" {
		t.Errorf("image %q, args %q", c.Image, c.Args)
	}
}

func selects(selector, podLabels map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(podLabels))
}
