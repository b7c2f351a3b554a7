package active

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// MaxTargets bounds one expansion: a typo such as 10.0.0.0/8 must not turn
// into sixteen million probes.
const MaxTargets = 65536

// TargetError is a target or exclusion specification that could not be
// used. An exclusion that fails matters more than a target that fails: a
// fragile device the owner listed would be probed. Callers decide on
// Exclusion.
type TargetError struct {
	Spec      string
	Exclusion bool
	Err       error
}

func (e *TargetError) Error() string {
	what := "target"
	if e.Exclusion {
		what = "exclusion"
	}
	return fmt.Sprintf("%s %q: %v", what, e.Spec, e.Err)
}

func (e *TargetError) Unwrap() error { return e.Err }

// Resolver looks host names up; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ExpandTargets turns CIDRs, addresses and host names into targets, minus
// exclusions (same forms), sorted by address and without duplicates. The
// network and broadcast addresses of IPv4 prefixes up to /30 are never
// targets (a probe to a broadcast address reaches every device). A spec
// that cannot be used — unparsable, too large, a name that does not
// resolve — is a *TargetError in errs and the others go on.
func ExpandTargets(ctx context.Context, specs []string, exclude []string) ([]Target, []error) {
	return ExpandTargetsWith(ctx, net.DefaultResolver, specs, exclude)
}

// ExpandTargetsWith is ExpandTargets with a given resolver (tests).
func ExpandTargetsWith(ctx context.Context, r Resolver, specs []string, exclude []string) ([]Target, []error) {
	var errs []error
	var excluded []netip.Prefix
	for _, spec := range exclude {
		ps, _, err := parseSpec(ctx, r, spec)
		if err != nil {
			errs = append(errs, &TargetError{Spec: spec, Exclusion: true, Err: err})
			continue
		}
		excluded = append(excluded, ps...)
	}
	isExcluded := func(a netip.Addr) bool {
		for _, p := range excluded {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}

	byAddr := map[netip.Addr]Target{}
	for _, spec := range specs {
		ps, name, err := parseSpec(ctx, r, spec)
		if err == nil {
			err = checkSize(ps, len(byAddr))
		}
		if err != nil {
			errs = append(errs, &TargetError{Spec: spec, Err: err})
			continue
		}
		for _, p := range ps {
			for a := range hosts(p) {
				if isExcluded(a) {
					continue
				}
				if t, dup := byAddr[a]; dup && t.Name != "" {
					continue
				}
				byAddr[a] = Target{Addr: a, Name: name}
			}
		}
	}
	out := make([]Target, 0, len(byAddr))
	for _, t := range byAddr {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Target) int { return a.Addr.Compare(b.Addr) })
	return out, errs
}

// parseSpec turns one specification into prefixes: a CIDR, an address
// (a /32 or /128), or a host name (every address it resolves to).
func parseSpec(ctx context.Context, r Resolver, spec string) ([]netip.Prefix, string, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, "", errors.New("empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, "", fmt.Errorf("not a CIDR: %w", err)
		}
		if p.Addr().Is4In6() && p.Bits() < 96 {
			return nil, "", errors.New("IPv4-mapped prefix shorter than /96")
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked()
		if err := usable(p.Addr()); err != nil {
			return nil, "", err
		}
		return []netip.Prefix{p}, "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap().WithZone("")
		if err := usable(a); err != nil {
			return nil, "", err
		}
		return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, "", nil
	}
	if !validHostName(s) {
		return nil, "", errors.New("neither an address, a CIDR nor a host name")
	}
	addrs, err := r.LookupNetIP(ctx, "ip", s)
	if err != nil {
		return nil, "", fmt.Errorf("resolve: %w", err)
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if usable(a) == nil {
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if len(ps) == 0 {
		return nil, "", errors.New("resolve: no usable unicast address")
	}
	return ps, s, nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address spends on
// the mapping prefix.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// usable refuses addresses no probe may go to.
func usable(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("invalid address")
	case a.IsUnspecified():
		return errors.New("unspecified address")
	case a.IsMulticast():
		return errors.New("multicast address: would reach many devices")
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("broadcast address: would reach every device")
	}
	return nil
}

// checkSize refuses a prefix that would take the expansion past
// MaxTargets addresses.
func checkSize(ps []netip.Prefix, have int) error {
	total := have
	for _, p := range ps {
		hostBits := p.Addr().BitLen() - p.Bits()
		if hostBits > 16 || total+(1<<hostBits) > MaxTargets {
			return fmt.Errorf("more than %d addresses: narrow the range", MaxTargets)
		}
		total += 1 << hostBits
	}
	return nil
}

// hosts yields the probe-able addresses of p: all of them, except the
// network and broadcast addresses of an IPv4 prefix shorter than /31.
func hosts(p netip.Prefix) func(yield func(netip.Addr) bool) {
	return func(yield func(netip.Addr) bool) {
		first, n := p.Addr(), uint64(1)<<(p.Addr().BitLen()-p.Bits())
		skipEnds := p.Addr().Is4() && p.Bits() < 31
		a := first
		for i := uint64(0); i < n; i, a = i+1, a.Next() {
			if skipEnds && (i == 0 || i == n-1) {
				continue
			}
			if usable(a) != nil {
				continue
			}
			if !yield(a) {
				return
			}
		}
	}
}

// validHostName is a loose RFC 1123 check, so that garbage never reaches
// the resolver.
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
