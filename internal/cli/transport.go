package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/herd-sse/herd/hub"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// transportFlags choose how herd serve speaks: plain HTTP/1.1 (and h2c on
// request), or TLS with HTTP/2, and HTTP/3 beside it on request.
type transportFlags struct {
	tlsCert, tlsKey string
	tlsMode         string // "" or "self-signed"
	h2c             bool
	http3           bool
	h2MaxStreams    int
	h2Engine        bool // HTTP/2 on the hub's own server (Hub.ConfigureHTTP2)
}

func (t *transportFlags) tls() bool { return t.tlsCert != "" || t.tlsMode != "" }

// describe names the protocols served, for the log.
func (t *transportFlags) describe() string {
	switch {
	case t.tls() && t.http3:
		return "HTTP/1.1, HTTP/2 and HTTP/3 over TLS"
	case t.tls():
		return "HTTP/1.1 and HTTP/2 over TLS"
	case t.h2c:
		return "HTTP/1.1 and h2c"
	}
	return "HTTP/1.1"
}

func (t *transportFlags) check() error {
	const hint = "herd serve --tls-cert cert.pem --tls-key key.pem   (or --tls self-signed)"
	switch {
	case t.tlsMode != "" && t.tlsMode != "self-signed":
		return usagef(hint, "--tls %q: the only mode is self-signed (for certificate files use --tls-cert and --tls-key)", t.tlsMode)
	case (t.tlsCert == "") != (t.tlsKey == ""):
		return usagef(hint, "--tls-cert and --tls-key go together")
	case t.tlsMode != "" && t.tlsCert != "":
		return usagef(hint, "--tls self-signed and --tls-cert: choose one")
	case t.http3 && !t.tls():
		return usagef(hint+" --http3", "--http3 needs TLS: give --tls-cert and --tls-key, or --tls self-signed")
	case t.h2c && t.tls():
		return usagef("herd serve --h2c", "--h2c is HTTP/2 without TLS; with TLS, HTTP/2 is on already")
	case t.h2MaxStreams < 1:
		return usagef("herd serve --h2-max-streams 250", "--h2-max-streams must be positive")
	}
	return nil
}

// certificate holds the serving certificate, replaced on reload.
type certificate struct {
	flags *transportFlags
	cur   atomic.Pointer[tls.Certificate]
}

// load reads the certificate files, or makes a self-signed certificate.
func (c *certificate) load(host string) error {
	var cert tls.Certificate
	var err error
	if c.flags.tlsMode == "self-signed" {
		cert, err = selfSigned(host)
	} else {
		cert, err = tls.LoadX509KeyPair(c.flags.tlsCert, c.flags.tlsKey)
	}
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	c.cur.Store(&cert)
	return nil
}

// reload rereads the certificate files (a self-signed one is kept); on
// failure the current certificate stays in use.
func (c *certificate) reload(logger *slog.Logger) {
	if c.flags.tlsCert == "" {
		return
	}
	if err := c.load(""); err != nil {
		logger.Error("certificate not reloaded; the current one stays in use", "err", err)
		return
	}
	logger.Info("certificate reloaded", "cert", c.flags.tlsCert, "sha256", fingerprint(c.cur.Load()))
}

func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

func fingerprint(c *tls.Certificate) string {
	if c == nil || len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:8])
}

// selfSigned makes a certificate for local development: localhost, the
// loopback addresses and host, valid for 30 days. Browsers warn about it.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "herd self-signed", Organization: []string{"herd development"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" && host != "localhost" {
		if ip := net.ParseIP(host); ip != nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// configure sets srv's protocols: HTTP/1.1 always; HTTP/2 with TLS (and
// without it on --h2c), with the stream limit browsers queue behind. TLS
// itself is the listener's (listener).
func (t *transportFlags) configure(srv *http.Server) {
	var p http.Protocols
	p.SetHTTP1(true)
	if t.tls() {
		p.SetHTTP2(true)
	}
	if t.h2c {
		p.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = &p
	srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: t.h2MaxStreams}
}

// listener returns ln as the server serves it: with TLS, the hub's TLS
// listener, so that the connection engine takes TLS 1.3 HTTP/1.1 streams
// as it takes plain ones (net/http serves the rest, HTTP/2 included).
func (t *transportFlags) listener(ln net.Listener, h *hub.Hub, cert *certificate) net.Listener {
	if !t.tls() {
		return ln
	}
	cfg := cert.tlsConfig()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return h.TLSListener(ln, cfg)
}

// h3Server is HTTP/3 beside the TCP server, on the same port over UDP.
type h3Server struct {
	srv    *http3.Server
	conn   net.PacketConn
	port   int
	served chan struct{} // closed when Serve has returned
}

// startHTTP3 listens on addr's UDP port. The keep-alive is kept below
// quic-go's 30s idle timeout, so that a quiet stream is not dropped.
func startHTTP3(addr string, h http.Handler, cert *certificate, maxStreams int, logger *slog.Logger) (*h3Server, error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http3: cannot listen on udp %s: %w", addr, err)
	}
	s := &h3Server{conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port, served: make(chan struct{})}
	s.srv = &http3.Server{
		Handler:   h,
		TLSConfig: http3.ConfigureTLSConfig(cert.tlsConfig()),
		QUICConfig: &quic.Config{
			KeepAlivePeriod:    10 * time.Second,
			MaxIncomingStreams: int64(maxStreams),
		},
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(conn); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			logger.Error("HTTP/3 server stopped", "err", err)
		}
	}()
	return s, nil
}

// advertise adds Alt-Svc to every TCP response, so that browsers try
// HTTP/3 next time.
func (s *h3Server) advertise(next http.Handler) http.Handler {
	altSvc := `h3=":` + strconv.Itoa(s.port) + `"; ma=86400`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor < 3 {
			w.Header().Set("Alt-Svc", altSvc)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *h3Server) shutdown(ctx context.Context) {
	if s == nil {
		return
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.conn.Close()
	<-s.served
}
