package demo

import (
	"time"
)

const telnetPort = 23

// Telnet commands and options (RFC 854, 857, 858, 1073, 1091).
const (
	iac      = 255
	dont     = 254
	do       = 253
	wont     = 252
	will     = 251
	sb       = 250
	se       = 240
	optEcho  = 1
	optSGA   = 3
	optTType = 24
	optNAWS  = 31
	ttypeIs  = 0
	ttypeSnd = 1
)

// telnetUser and telnetPassword are the login typed at PLC-1. The password
// is the vendor default, which is the point of the scene; it exists in
// clear only here and on the wire.
const (
	telnetUser     = "admin"
	telnetPassword = "admin"
)

const plc1Prompt = "M340> "

// telnetLogin is the HMI logging in to PLC-1's Telnet service: option
// negotiation, "login: " and "Password: " prompts, the user name typed one
// key per segment and echoed by the server, the password typed one key per
// segment and not echoed, two commands, and "exit", after which the PLC
// closes the connection.
func telnetLogin(tl *timeline, connect time.Duration) {
	r := newRNG("telnet")
	c := tl.newTCPConn(hmi, plc1, telnetPort, r)
	s := &telnetSession{conn: c, r: r}
	t := c.open(connect)

	t = c.send(t+r.between(2*time.Millisecond, 5*time.Millisecond), server,
		[]byte{iac, do, optTType, iac, will, optEcho, iac, will, optSGA, iac, do, optNAWS})
	t = c.send(t+r.between(600*time.Microsecond, 2*time.Millisecond), client,
		[]byte{iac, will, optTType, iac, do, optEcho, iac, do, optSGA, iac, will, optNAWS,
			iac, sb, optNAWS, 0, 80, 0, 24, iac, se})
	t = c.send(t+r.between(1*time.Millisecond, 3*time.Millisecond), server, []byte{iac, sb, optTType, ttypeSnd, iac, se})
	t = c.send(t+r.between(600*time.Microsecond, 2*time.Millisecond), client,
		append(append([]byte{iac, sb, optTType, ttypeIs}, "ANSI"...), iac, se))
	t = c.send(t+r.between(2*time.Millisecond, 6*time.Millisecond), server,
		[]byte("\r\n\r\nSchneider Electric Modicon M340 (BMX P34 2020)\r\n\r\nlogin: "))

	c.ack(t+hmi.stack.delayedAck, client)
	t += hmi.stack.delayedAck

	for _, step := range []struct {
		pause time.Duration
		line  string
		echo  bool
		reply string
	}{
		{r.between(1200*time.Millisecond, 1800*time.Millisecond), telnetUser, true, "Password: "},
		{r.between(900*time.Millisecond, 1400*time.Millisecond), telnetPassword, false,
			"\r\nWelcome admin.\r\n" + plc1Prompt},
		{r.between(1500*time.Millisecond, 2500*time.Millisecond), "version", true,
			"Modicon M340 BMX P34 2020\r\nOS version v3.1 IE 18\r\nApplication FILLER_L1 (RUN)\r\n" + plc1Prompt},
		{r.between(2000*time.Millisecond, 3000*time.Millisecond), "ifconfig", true,
			"eth0: 10.10.2.10 netmask 255.255.0.0 gateway 10.10.0.1\r\n     MAC 00:80:F4:12:A0:10 100Mb/s full duplex\r\n" + plc1Prompt},
	} {
		t = s.typeLine(t+step.pause, step.line, step.echo, step.reply)
		c.ack(t+hmi.stack.delayedAck, client)
		t += hmi.stack.delayedAck
	}
	// "exit": the PLC says goodbye and closes before the HMI acknowledges.
	t = s.typeLine(t+r.between(1500*time.Millisecond, 2500*time.Millisecond), "exit", true, "logout\r\n")
	c.close(t+r.between(1*time.Millisecond, 3*time.Millisecond), server)
}

// telnetSession types at a remote shell in character mode.
type telnetSession struct {
	conn *tcpConn
	r    *rng
}

// typeLine sends each character of line in its own segment, then CR LF,
// which the server answers with a new line and reply; it returns when the
// reply went out. With echo the server echoes every key (acknowledging
// it); without, it only acknowledges, after its delayed-ACK timer. The
// client acknowledges an echo with its next key, or with a pure ACK when
// its own timer fires first.
func (s *telnetSession) typeLine(at time.Duration, line string, echo bool, reply string) time.Duration {
	c := s.conn
	keys := make([][]byte, 0, len(line)+1)
	for i := 0; i < len(line); i++ {
		keys = append(keys, []byte{line[i]})
	}
	keys = append(keys, []byte("\r\n"))
	var echoed time.Duration // when the last unacknowledged echo went out
	for i, key := range keys {
		if echoed > 0 && at-echoed > hmi.stack.delayedAck {
			c.ack(echoed+hmi.stack.delayedAck, client)
		}
		t := c.send(at, client, key)
		switch {
		case i == len(keys)-1:
			return c.send(t+s.r.between(2*time.Millisecond, 12*time.Millisecond), server, []byte("\r\n"+reply))
		case echo:
			echoed = c.send(t+s.r.between(500*time.Microsecond, 2*time.Millisecond), server, key)
		default:
			c.ack(t+plc1.stack.delayedAck, server)
			echoed = 0
		}
		at = t + s.r.between(110*time.Millisecond, 290*time.Millisecond)
	}
	return at
}
