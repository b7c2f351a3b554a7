package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
	"unicode"
)

// DefaultListen is where the API listens unless told otherwise: loopback
// only, so that nothing leaves the machine by default.
const DefaultListen = "127.0.0.1:9723"

// MinTokenLength is the shortest bearer token accepted: anything shorter
// could be guessed.
const MinTokenLength = 16

// maxTokenFile bounds what LoadToken reads.
const maxTokenFile = 4096

// ErrTokenFile: the token file is unusable (permissions, content).
var ErrTokenFile = errors.New("unusable API token file")

// LoadToken reads the bearer token from path. The file must be a regular
// file that only its owner can read or write (0600 or stricter): the token
// opens every finding of the plant to whoever holds it. Surrounding
// whitespace (a trailing newline) is ignored; the token itself must be at
// least MinTokenLength printable characters without spaces.
func LoadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("API token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("API token file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrTokenFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has permissions %04o; it must be readable by its owner only (chmod 600 %s)", ErrTokenFile, path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("API token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%w: %s is larger than %d bytes: not a token", ErrTokenFile, path, maxTokenFile)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < MinTokenLength {
		return "", fmt.Errorf("%w: %s holds %d characters; want a token of at least %d (for example: openssl rand -hex 32 > %s)",
			ErrTokenFile, path, len(token), MinTokenLength, path)
	}
	for _, r := range token {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return "", fmt.Errorf("%w: %s: the token must be printable ASCII without spaces", ErrTokenFile, path)
		}
	}
	return token, nil
}

// ListenConfig says where the API listens and with which certificate.
type ListenConfig struct {
	Addr string
	// TLSCert and TLSKey are PEM files; both or neither.
	TLSCert, TLSKey string
}

// ErrInsecureListen: a non-loopback address without TLS.
var ErrInsecureListen = errors.New("refusing to serve the API beyond this machine without TLS")

// Check refuses a listen configuration that would expose the API in clear:
// any address that is not loopback needs TLS.
func (c ListenConfig) Check() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want HOST:PORT, e.g. %s: %w", c.Addr, DefaultListen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	if c.TLSCert == "" && !isLoopback(host) {
		where := host
		if where == "" {
			where = "every interface"
		}
		return fmt.Errorf("listen address %q (%s): %w; give --tls-cert and --tls-key, or listen on 127.0.0.1", c.Addr, where, ErrInsecureListen)
	}
	return nil
}

// isLoopback reports whether host names only this machine. A host name
// other than localhost is not trusted to: it could resolve anywhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Listen checks c and opens its listener, with TLS (1.2 or later) when a
// certificate is configured.
func Listen(ctx context.Context, c ListenConfig) (net.Listener, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("API TLS certificate %s: %w", c.TLSCert, err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("API listen %s: %w", c.Addr, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, nil
}

// NewServer wraps h in an http.Server with timeouts, so that a slow or
// stuck client cannot hold the agent's connections.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The report and the metrics read the store; a commit can hold it
		// for a few seconds.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
