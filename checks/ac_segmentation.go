package checks

import (
	"fmt"

	"github.com/otaudit/otaudit"
)

// personToPerson are e-mail and messaging services (reference #34), by
// protocol name and, when the payload was not recognised, by their
// well-known TCP ports.
var (
	personToPerson = map[string]string{
		"smtp": "e-mail (SMTP)", "submission": "e-mail (SMTP)", "smtps": "e-mail (SMTP)",
		"imap": "e-mail (IMAP)", "imaps": "e-mail (IMAP)", "pop3": "e-mail (POP3)", "pop3s": "e-mail (POP3)",
		"irc": "chat (IRC)", "xmpp": "chat (XMPP)", "msnp": "chat (MSNP)",
	}
	personToPersonPorts = map[uint16]string{
		25: "smtp", 465: "smtps", 587: "submission", 143: "imap", 993: "imaps", 110: "pop3", 995: "pop3s",
		6667: "irc", 6697: "irc", 5222: "xmpp", 5223: "xmpp", 1863: "msnp",
	}
)

// personToPersonService names the service of a flow, or "".
func personToPersonService(f *otaudit.Flow) string {
	if what, ok := personToPerson[f.Protocol]; ok {
		return what
	}
	if f.Protocol == "" && f.Transport == otaudit.TCP {
		return personToPerson[personToPersonPorts[f.ServerPort]]
	}
	return ""
}

// evalGeneralPurposeComms (#34): a host inside the zone used e-mail or
// chat. Web browsing, the reference's third case, needs URL categories the
// capture analysis does not produce; HTTP(S) to the internet is judged by
// AC-OT-INTERNET-COMMUNICATION instead. Attempts count whether or not they
// were answered: the host is configured to use the service.
func evalGeneralPurposeComms(in *Input) []otaudit.Finding {
	g := newGrouped()
	for _, o := range in.ix().flows {
		f := o.Flow
		what := personToPersonService(f)
		if what == "" || !in.inside(f.Client) || in.isGroupAddress(f.Client) {
			continue
		}
		x := g.add(f.Client, what, o)
		x.count += max(f.Connections, 1)
		x.tags["peer:"+f.Server.String()] = true
		if f.ServerAnswered {
			x.tags["answered"] = true
		}
	}
	var hits []hit
	g.each(func(x *group) {
		peers := tagValues(x.tags, "peer:")
		s := fmt.Sprintf("%s used %s with %d servers (%s) in %d connections", x.asset, x.key, len(peers), listSome(peers, 3), x.count)
		if !x.tags["answered"] {
			s += " (no answer seen)"
		}
		s += "; person-to-person communication does not belong in a control zone."
		hits = append(hits, hit{asset: x.asset, key: x.key, summary: s, evidence: x.obs})
	})
	return in.findings("AC-GENERAL-PURPOSE-COMMS-IN-OT", hits)
}
