package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// tlsClientFlags are how herd's own clients (pub, sub, health) trust a
// hub's certificate beyond the system's roots: the hub's certificate
// itself (herd serve --tls self-signed prints where it wrote it), or, for
// a hub on this machine only, no check at all.
type tlsClientFlags struct {
	ca       string
	insecure bool
}

func (t *tlsClientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "ca", "", "trust the hub's certificate (or its CA's) from this PEM `FILE`, as herd serve --tls self-signed prints it")
	fs.BoolVar(&t.insecure, "insecure", false, "do not check the certificate of a hub on this machine (localhost or a loopback address only)")
}

// transport returns the transport for requests to hub, or an error that
// says how to give the flags right.
func (t *tlsClientFlags) transport(hub *url.URL, hint string) (http.RoundTripper, error) {
	if t.ca == "" && !t.insecure {
		return http.DefaultTransport, nil
	}
	if t.ca != "" && t.insecure {
		return nil, usagef(hint, "--ca and --insecure: choose one (--ca checks the certificate, --insecure does not)")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.insecure {
		if !isLoopbackHost(hub.Hostname()) {
			return nil, usagef(hint, "--insecure is for a hub on this machine (localhost or a loopback address), not %s: give its certificate with --ca FILE", hub.Hostname())
		}
		cfg.InsecureSkipVerify = true // asked for, and only towards this machine
	} else {
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return nil, usagef(hint, "--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef(hint, "--ca %s: no PEM certificate in it (want -----BEGIN CERTIFICATE-----)", t.ca)
		}
		cfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}

func isLoopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// untrusted adds what to do to an error from a hub whose certificate is
// not trusted.
func untrusted(err error) error {
	if isUntrusted(err) {
		return withHint(err, "the hub's certificate is not trusted here: give it with --ca FILE (herd serve --tls self-signed prints the file), "+
			"or, for a hub on this machine, --insecure")
	}
	return err
}

// isUntrusted reports whether err is a refusal of the server's
// certificate: trying again will not help.
func isUntrusted(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// writeCertificate writes a self-signed certificate where herd's clients
// can be pointed at it (--ca), and returns the file's path; remove it
// when the hub stops.
func writeCertificate(cert *tls.Certificate) (string, error) {
	f, err := os.CreateTemp("", "herd-self-signed-*.pem")
	if err != nil {
		return "", err
	}
	for _, der := range cert.Certificate {
		if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", err
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
