package demo

import (
	"fmt"
	"time"
)

const httpPort = 80

const plc2Page = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>TM251MESE - Web Server</title>
<link rel="stylesheet" href="/css/main.css"></head>
<body>
<div id="header"><img src="/img/se_logo.png" alt="Schneider Electric"><h1>Modicon M251 Logic Controller</h1></div>
<div id="menu"><a href="/home.htm">Home</a> | <a href="/monitoring.htm">Monitoring</a> | <a href="/diagnostics.htm">Diagnostics</a> | <a href="/maintenance.htm">Maintenance</a></div>
<div id="content"><p>Controller: plc-2 (TM251MESE), firmware v5.1</p><p>State: RUNNING</p></div>
</body>
</html>
`

// httpVisit is the HMI's browser opening PLC-2's built-in web server: a
// plain GET of / answered 200, then the server closes (Connection: close).
func httpVisit(tl *timeline, connect time.Duration) {
	r := newRNG("http")
	c := tl.newTCPConn(hmi, plc2, httpPort, r)
	t := c.open(connect)
	request := "GET / HTTP/1.1\r\n" +
		"Host: " + plc2.IP.String() + "\r\n" +
		"Connection: keep-alive\r\n" +
		"Upgrade-Insecure-Requests: 1\r\n" +
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8\r\n" +
		"Accept-Encoding: gzip, deflate\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\n\r\n"
	response := "HTTP/1.1 200 OK\r\n" +
		"Server: Schneider-WEB/V5.1\r\n" +
		"Content-Type: text/html\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", len(plc2Page)) +
		"Cache-Control: no-cache\r\n" +
		"Connection: close\r\n\r\n" + plc2Page
	t = c.exchange(t+r.between(200*time.Microsecond, 900*time.Microsecond), []byte(request), []byte(response),
		r.between(8*time.Millisecond, 20*time.Millisecond))
	c.close(t+r.between(200*time.Microsecond, 600*time.Microsecond), server)
}
