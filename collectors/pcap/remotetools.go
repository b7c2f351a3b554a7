package pcap

import (
	"slices"
	"strings"
)

// remoteToolDomains are the domains of third-party remote-control tools'
// rendezvous and relay servers and of tunnelling services (reference check
// #27: "DNS/SNI of AnyDesk, TeamViewer, Splashtop, ScreenConnect, LogMeIn,
// Chrome Remote Desktop, tunnelling services"), by the tool's protocol
// name (otaudit.IsRemoteTool). A server name matches a domain or any name
// under it.
var remoteToolDomains = map[string]string{
	"anydesk.com":                     "anydesk",
	"teamviewer.com":                  "teamviewer",
	"splashtop.com":                   "splashtop",
	"splashtop.eu":                    "splashtop",
	"screenconnect.com":               "screenconnect",
	"logmein.com":                     "logmein",
	"logme.in":                        "logmein",
	"rustdesk.com":                    "rustdesk",
	"remotedesktop-pa.googleapis.com": "chrome-remote-desktop",
	"remotedesktop.google.com":        "chrome-remote-desktop",
	"ngrok.io":                        "ngrok",
	"ngrok.com":                       "ngrok",
	"ngrok.app":                       "ngrok",
	"ngrok-free.app":                  "ngrok",
	"argotunnel.com":                  "cloudflare-tunnel",
	"trycloudflare.com":               "cloudflare-tunnel",
}

// remoteToolOf names the tool whose domain name (lower case, from the
// wire) is, or is under; "" for none.
func remoteToolOf(name []byte) string {
	for len(name) > 0 && name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	for len(name) > 0 {
		if tool, ok := remoteToolDomains[string(name)]; ok {
			return tool
		}
		i := slices.Index(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return ""
}

// remoteToolByServerName is remoteToolOf for a name in any case.
func remoteToolByServerName(name string) string {
	return remoteToolOf([]byte(strings.ToLower(name)))
}
