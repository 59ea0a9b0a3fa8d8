package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/herd-sse/herd/sse"
)

// writeCert writes a certificate for 127.0.0.1 signed by a new CA, and
// returns the files and a pool trusting the CA.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	roots = x509.NewCertPool()
	roots.AddCert(caCert)
	return certFile, keyFile, roots
}

// protoRecorder records the protocol of each response.
type protoRecorder struct {
	rt    http.RoundTripper
	major atomic.Int32
}

func (p *protoRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.rt.RoundTrip(r)
	if err == nil {
		p.major.Store(int32(resp.ProtoMajor))
	}
	return resp, err
}

var streams atomic.Int64

// streamOver subscribes with the sse client over rt, publishes two events
// and a close, and checks they arrive, and over which HTTP version.
func streamOver(t *testing.T, base string, rt http.RoundTripper, wantMajor int) {
	t.Helper()
	rec := &protoRecorder{rt: rt}
	hc := &http.Client{Transport: rec}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	topic := fmt.Sprintf("tls/%d", streams.Add(1)) // a fresh topic: each call closes its own
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?topic="+topic, nil)
	// From the earliest event: publishes that race ahead of the
	// subscription are replayed, not missed.
	req.Header.Set("Last-Event-ID", "earliest")
	sub := (&sse.Client{HTTPClient: hc, SeeCloseEvent: true}).Subscribe(ctx, req)
	defer sub.Close()
	published := make(chan error, 1)
	go func() {
		for _, body := range []string{"data=one", "data=two", "close=true"} {
			body += "&topic=" + topic
			resp, err := hc.Post(base+"/events", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				published <- err
				return
			}
			resp.Body.Close()
		}
		published <- nil
	}()
	var got []string
	for e, err := range sub.Events() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Data)
		if e.Type == "close" {
			break
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || got[len(got)-2] != "two" {
		t.Errorf("events %q", got)
	}
	if m := rec.major.Load(); int(m) != wantMajor {
		t.Errorf("the stream used HTTP/%d, want HTTP/%d", m, wantMajor)
	}
}

func TestServe_tls(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, roots := writeCert(t, dir, "first")
	reload := make(chan struct{})
	base, stop := startServeReload(t, reload, "--tls-cert", certFile, "--tls-key", keyFile, "--http3")
	defer stop()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base %q", base)
	}
	tlsConf := &tls.Config{RootCAs: roots}
	h2 := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	defer h2.CloseIdleConnections()
	streamOver(t, base, h2, 2)
	// HTTP/1.1 over TLS 1.3 (the connection engine's) and TLS 1.2 (net/http's).
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: v},
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		streamOver(t, base, h1, 1)
		h1.CloseIdleConnections()
	}

	// HTTP/3 on the same port, advertised on the TCP responses.
	resp, err := (&http.Client{Transport: h2}).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	port := base[strings.LastIndex(base, ":")+1:]
	if alt := resp.Header.Get("Alt-Svc"); alt != `h3=":`+port+`"; ma=86400` {
		t.Errorf("Alt-Svc %q", alt)
	}
	h3 := &http3.Transport{TLSClientConfig: tlsConf}
	defer h3.Close()
	streamOver(t, base, h3, 3)

	// A new certificate, read on SIGHUP, serves new connections.
	newCert, newKey, newRoots := writeCert(t, t.TempDir(), "second")
	os.Rename(newCert, certFile)
	os.Rename(newKey, keyFile)
	reload <- struct{}{}
	var name string
	// The reload happens on herd's goroutine: poll, generously (a loaded
	// machine may take a while; only a hang is a failure).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"), &tls.Config{RootCAs: newRoots})
		if err == nil {
			name = conn.ConnectionState().PeerCertificates[0].Subject.CommonName
			conn.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if name != "second" {
		t.Errorf("after the reload the hub serves %q, want the second certificate", name)
	}
}

func TestServe_selfSignedAndH2C(t *testing.T) {
	base, stop := startServe(t, "--tls", "self-signed")
	h2 := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer h2.CloseIdleConnections()
	streamOver(t, base, h2, 2)
	stop()

	base, stop = startServe(t, "--h2c")
	defer stop()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Transport{Protocols: &p}
	defer h2c.CloseIdleConnections()
	streamOver(t, base, h2c, 2)
	h1 := &http.Transport{}
	defer h1.CloseIdleConnections()
	streamOver(t, base, h1, 1) // HTTP/1.1 still, on the same port
}

func TestServe_tlsErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir, "x")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--tls", "acme"}, 2, `--tls "acme": the only mode is self-signed`},
		{[]string{"--tls-cert", certFile}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls", "self-signed", "--tls-cert", certFile, "--tls-key", keyFile}, 2, "choose one"},
		{[]string{"--http3"}, 2, "--http3 needs TLS"},
		{[]string{"--h2c", "--tls", "self-signed"}, 2, "with TLS, HTTP/2 is on already"},
		{[]string{"--h2-max-streams", "0"}, 2, "--h2-max-streams must be positive"},
		{[]string{"--tls-cert", keyFile, "--tls-key", certFile}, 1, "TLS certificate:"},
		{[]string{"--tls-cert", dir + "/missing.pem", "--tls-key", keyFile}, 1, "no such file"},
	} {
		args := append([]string{"serve", "--store", "memory", "--addr", "127.0.0.1:0"}, tc.args...)
		code, _, errOut := runCLI(t, t.Context(), nil, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
